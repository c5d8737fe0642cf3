use super::super::*;
use proptest::prelude::*;

#[test]
fn geolocation_values() {
    use GeoRef::*;
    assert_eq!(
        parse_geolocation("<cid:target123@atlanta.example.com>"),
        [Cid("target123@atlanta.example.com".into())]
    );
    assert_eq!(
        parse_geolocation(
            " <CID:loc%40example.id>;inserted-by=\"a,b\" ,\
             <https://lis.example.id/loc/7?x=1,2>;p, sips:lis@telco.example.id;q=1,\
             <pres:alice@example.com>, <sip:lis@10.0.0.1>, <http://lis.example/x>"
        ),
        [
            Cid("loc@example.id".into()),
            Uri("https://lis.example.id/loc/7?x=1,2".into()),
            Uri("sips:lis@telco.example.id".into()),
            Uri("pres:alice@example.com".into()),
            Uri("sip:lis@10.0.0.1".into()),
            Uri("http://lis.example/x".into()),
        ]
    );
    // No location in these.
    for v in [
        "",
        ",",
        "<>",
        "<tel:+62811>",
        "<cid:>",
        "garbage",
        "<https:>",
        "%",
    ] {
        assert_eq!(parse_geolocation(v), [], "{v:?}");
    }
    // Unterminated angle bracket, bad percent escapes.
    assert_eq!(parse_geolocation("<cid:a%zz%4"), [Cid("a%zz%4".into())]);
}

#[test]
fn geolocation_routing() {
    assert_eq!(parse_geolocation_routing(" YES "), GeoRouting::Yes);
    assert!(parse_geolocation_routing("yes").allows_routing());
    assert_eq!(parse_geolocation_routing("no"), GeoRouting::No);
    assert_eq!(
        parse_geolocation_routing(" maybe "),
        GeoRouting::Other("maybe".into())
    );
    assert!(!parse_geolocation_routing("maybe").allows_routing());
}

#[test]
fn dtmf_relay_and_dtmf() {
    let relay = "application/dtmf-relay";
    assert_eq!(
        parse_dtmf_relay(relay, b"Signal=5\r\nDuration=160\r\n"),
        Some(('5', Some(160)))
    );
    assert_eq!(
        parse_dtmf_relay("Application/DTMF-Relay; x=y", b"signal = #\nduration= 250"),
        Some(('#', Some(250)))
    );
    assert_eq!(parse_dtmf_relay(relay, b"Signal=*"), Some(('*', None)));
    assert_eq!(
        parse_dtmf_relay(relay, b"Signal=a\r\nDuration=x"),
        Some(('A', None))
    );
    assert_eq!(parse_dtmf_relay(relay, b"Signal=11\r\n"), Some(('#', None)));
    assert_eq!(parse_dtmf_relay(relay, b"Signal=10\r\n"), Some(('*', None)));
    assert_eq!(parse_dtmf_relay(relay, b"Signal=15\r\n"), Some(('D', None)));
    assert_eq!(parse_dtmf_relay(relay, b"Signal=16\r\n"), None);
    assert_eq!(parse_dtmf_relay(relay, b"Signal=E\r\n"), None);
    assert_eq!(parse_dtmf_relay(relay, b"Duration=100\r\n"), None);
    assert_eq!(parse_dtmf_relay(relay, b""), None);
    assert_eq!(
        parse_dtmf_relay("application/dtmf", b"7"),
        Some(('7', None))
    );
    assert_eq!(
        parse_dtmf_relay("application/dtmf", b" 9\r\n"),
        Some(('9', None))
    );
    assert_eq!(
        parse_dtmf_relay("application/dtmf", b"Signal=3\r\nDuration=100"),
        Some(('3', Some(100)))
    );
    assert_eq!(parse_dtmf_relay("application/dtmf", b"77"), None);
    assert_eq!(parse_dtmf_relay("application/sdp", b"Signal=5"), None);
}

proptest! {
    #[test]
    fn header_parsers_never_panic(v in ".{0,200}") {
        let _ = parse_geolocation(&v);
        let _ = parse_geolocation_routing(&v);
    }

    #[test]
    fn dtmf_never_panics(
        ct in prop_oneof![Just("application/dtmf-relay".to_string()),
                          Just("application/dtmf".to_string()), ".{0,40}"],
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        if let Some((d, _)) = parse_dtmf_relay(&ct, &body) {
            prop_assert!("0123456789*#ABCD".contains(d));
        }
    }

    #[test]
    fn geolocation_lists_round_trip(ids in proptest::collection::vec("[a-z0-9.]{1,12}@[a-z.]{1,12}", 1..5)) {
        let value = ids.iter().map(|i| format!("<cid:{i}>;p=1")).collect::<Vec<_>>().join(", ");
        let got = parse_geolocation(&value);
        let want: Vec<GeoRef> = ids.into_iter().map(GeoRef::Cid).collect();
        prop_assert_eq!(got, want);
    }
}
