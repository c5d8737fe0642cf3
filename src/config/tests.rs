use super::*;

const MINIMAL: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
realm = "siaga112"

[[seat]]
user = "op1"
password = "secret1"
"#;

#[test]
fn the_public_contract_parses() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(c.sip.listen[1].transport, ListenTransport::Tcp);
    assert_eq!(c.seats[0].user, "op1");
    assert_eq!(c.caselog.path, PathBuf::from("var/cases.jsonl"));
}

#[test]
fn the_shipped_config_is_valid() {
    let text = include_str!("../../config/siaga112.toml");
    let c = Config::parse(text).unwrap();
    assert!(!c.seats.is_empty());
    assert!(c.sip.listen.iter().all(|l| l.addr.ip().is_loopback()));
}

fn err(text: &str) -> String {
    Config::parse(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_key() {
    let bad = MINIMAL.replace("udp:127.0.0.1:5060", "udp:nowhere");
    assert!(err(&bad).starts_with("sip.listen:"), "{}", err(&bad));
    let bad = MINIMAL.replace("secret1", "");
    assert!(err(&bad).starts_with("seat[0].password:"));
    let bad = format!("{MINIMAL}\n[[seat]]\nuser = \"op1\"\npassword = \"x\"\n");
    assert!(err(&bad).contains("seat[1].user"));
    let bad = MINIMAL.replace("realm", "relm");
    assert!(err(&bad).contains("relm"), "{}", err(&bad));
    let bad = format!("{MINIMAL}\n[[route]]\nmatch = [\"112\"]\nqueue = \"nope\"\n");
    assert!(err(&bad).starts_with("route[0].queue:"));
    let bad = format!("{MINIMAL}\n[[trunk]]\nname = \"t\"\npeers = [\"1.2.3.4/40\"]\n");
    assert!(err(&bad).starts_with("trunk[0].peers:"));
    let bad = format!("{MINIMAL}\n[[queue]]\nname = \"q\"\noverflow = \"elsewhere\"\n");
    assert!(err(&bad).starts_with("queue[0].overflow:"));
}

#[test]
fn ip_nets_match() {
    let n = IpNet::parse("127.0.0.0/8").unwrap();
    assert!(n.contains("127.1.2.3".parse().unwrap()));
    assert!(!n.contains("10.0.0.1".parse().unwrap()));
    let all = IpNet::parse("0.0.0.0/0").unwrap();
    assert!(all.contains("8.8.8.8".parse().unwrap()));
    let v6 = IpNet::parse("::1").unwrap();
    assert!(v6.contains("::1".parse().unwrap()));
    assert!(!v6.contains("127.0.0.1".parse().unwrap()));
}
