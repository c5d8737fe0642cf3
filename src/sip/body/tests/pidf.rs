use super::super::*;
use super::sample;
use proptest::prelude::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn none() -> Vec<String> {
    Vec::new()
}

/// A PIDF-LO with `inner` as the only child of one device's location-info.
fn wrap(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
    xmlns:gml="http://www.opengis.net/gml"
    xmlns:gs="urn:ietf:params:xml:ns:pidf:geopriv10:geoShape"
    entity="pres:test@example.id">
  <dm:device id="d1"><gp:geopriv><gp:location-info>{inner}</gp:location-info>
  <gp:method>GPS</gp:method></gp:geopriv></dm:device>
</presence>"#
    )
}

const POINT: &str =
    r#"<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-6.2 106.8</gml:pos></gml:Point>"#;

#[test]
fn rfc4119_geodetic_example() {
    let loc = parse_pidf_lo(&sample("rfc4119-6-geodetic.xml")).unwrap();
    assert_eq!(loc.problems, none());
    let [Shape::Point(p)] = loc.shapes.as_slice() else {
        panic!("{:?}", loc.shapes)
    };
    assert!(close(p.lat, 37.775, 1e-9), "{p:?}");
    assert!(close(p.lon, -(122.0 + 25.0 / 60.0 + 10.0 / 3600.0), 1e-9));
    assert_eq!(loc.entity.as_deref(), Some("pres:geotarget@example.com"));
    assert_eq!(loc.timestamp.as_deref(), Some("2003-06-22T20:57:29Z"));
    assert_eq!(loc.retransmission_allowed, Some(false));
    assert_eq!(
        loc.retention_expiry.as_deref(),
        Some("2003-06-23T04:57:29Z")
    );
    assert!(loc.civic.is_none());
}

#[test]
fn rfc4119_civic_example() {
    let loc = parse_pidf_lo(&sample("rfc4119-6-civic.xml")).unwrap();
    assert_eq!(loc.problems, none());
    let civic = loc.civic.as_ref().unwrap();
    assert_eq!(civic.country.as_deref(), Some("US"));
    assert_eq!(civic.a6.as_deref(), Some("Broadway"));
    assert_eq!(
        civic.one_line(),
        "123 Broadway, Suite 75, New York, New York, 10027-0401, US"
    );
    assert_eq!(loc.retransmission_allowed, Some(true));
    assert_eq!(loc.summary(), civic.one_line());
}

#[test]
fn rfc5139_civic_example() {
    let loc = parse_pidf_lo(&sample("rfc5139-4-civic.xml")).unwrap();
    assert_eq!(
        loc.problems,
        ["root element is <civicAddress>, not <presence>"]
    );
    let c = loc.civic.unwrap();
    assert_eq!(c.lang.as_deref(), Some("en-AU"));
    assert_eq!(c.a3.as_deref(), Some("Wollongong"));
    assert_eq!(c.lmk.as_deref(), Some("Gilligan's Island"));
    assert_eq!(c.nam.as_deref(), Some("Video Rental Store"));
    assert_eq!(c.fields().len(), 14);
    assert_eq!(
        c.one_line(),
        "Video Rental Store, room Westerns and Classics, Flinders Street, Campbell Street, \
         Corner, Gilligan's Island, North Wollongong, Wollongong, NSW, 2500, Private Box 15, AU"
    );
}

#[test]
fn rfc5491_multiple_location_objects() {
    let loc = parse_pidf_lo(&sample("rfc5491-3.4-multiple.xml")).unwrap();
    assert_eq!(loc.problems, none());
    assert_eq!(
        loc.civic.as_ref().unwrap().a4.as_deref(),
        Some("North Wollongong")
    );
    assert_eq!(
        loc.shapes,
        [Shape::Circle {
            centre: Position::new(-34.410649, 150.87651),
            radius_m: 30.0
        }]
    );
    // From the device, the first element that gave a location.
    assert_eq!(loc.method.as_deref(), Some("Wiremap"));
    assert_eq!(loc.device_id.as_deref(), Some("mac:8asd7f7d"));
    assert_eq!(loc.retransmission_allowed, Some(true));
    assert_eq!(loc.entity.as_deref(), Some("pres:ness@example.com"));
}

#[test]
fn rfc5491_shapes() {
    let loc = parse_pidf_lo(&sample("rfc5491-5.2-shapes.xml")).unwrap();
    assert_eq!(loc.problems, none());
    let kinds: Vec<&str> = loc.shapes.iter().map(Shape::kind).collect();
    assert_eq!(
        kinds,
        [
            "Point",
            "Point",
            "Polygon",
            "Polygon",
            "Circle",
            "Ellipse",
            "ArcBand",
            "Sphere",
            "Ellipsoid",
            "Prism"
        ]
    );
    let s = &loc.shapes;
    assert_eq!(s[0], Shape::Point(Position::new(-34.407, 150.883)));
    assert_eq!(
        s[1],
        Shape::Point(Position {
            lat: -34.407,
            lon: 150.883,
            alt: Some(24.8)
        })
    );
    assert_eq!(s[0].radius_m(), None);
    assert_eq!(s[0].area_m2(), None);
    // The same polygon written with gml:pos and with gml:posList.
    assert_eq!(s[2], s[3]);
    let Shape::Polygon(ring) = &s[2] else {
        panic!()
    };
    assert_eq!(ring.len(), 7);
    let (lat, lon) = s[2].centre();
    assert!(close(lon, -73.272, 1e-3), "{lon}");
    assert!(lat > 43.2 && lat < 43.35, "{lat}");
    let r = s[2].radius_m().unwrap();
    assert!(r > 10_000.0 && r < 20_000.0, "{r}");
    assert_eq!(
        s[4],
        Shape::Circle {
            centre: Position::new(42.5463, -73.2512),
            radius_m: 850.24
        }
    );
    assert_eq!(s[4].centre(), (42.5463, -73.2512));
    assert_eq!(s[4].radius_m(), Some(850.24));
    assert!(close(
        s[4].area_m2().unwrap(),
        std::f64::consts::PI * 850.24 * 850.24,
        1e-6
    ));
    assert_eq!(
        s[5],
        Shape::Ellipse {
            centre: Position::new(42.5463, -73.2512),
            semi_major_m: 1275.0,
            semi_minor_m: 670.0,
            orientation_deg: 43.2
        }
    );
    assert_eq!(s[5].radius_m(), Some(1275.0));
    assert!(close(
        s[5].area_m2().unwrap(),
        std::f64::consts::PI * 1275.0 * 670.0,
        1e-6
    ));
    let Shape::ArcBand {
        centre,
        inner_radius_m,
        outer_radius_m,
        start_angle_deg,
        opening_angle_deg,
    } = s[6]
    else {
        panic!()
    };
    assert_eq!(centre, Position::new(-43.5723, 153.2176));
    assert_eq!(
        (
            inner_radius_m,
            outer_radius_m,
            start_angle_deg,
            opening_angle_deg
        ),
        (3594.0, 4148.0, 20.0, 20.0)
    );
    // The pin goes mid-band on the middle bearing (30°), not on the tower.
    let (lat, lon) = s[6].centre();
    let mid = Position::new(lat, lon);
    let d = shape::distance_m(centre, mid);
    assert!(close(d, (3594.0 + 4148.0) / 2.0, 1.0), "{d}");
    assert!(lat > centre.lat && lon > centre.lon);
    let r = s[6].radius_m().unwrap();
    assert!(r > 277.0 && r < 1500.0, "{r}");
    let want = 20.0 / 360.0 * std::f64::consts::PI * (4148f64.powi(2) - 3594f64.powi(2));
    assert!(close(s[6].area_m2().unwrap(), want, 1e-6));
    assert_eq!(
        s[7],
        Shape::Sphere {
            centre: Position {
                lat: 42.5463,
                lon: -73.2512,
                alt: Some(26.3)
            },
            radius_m: 850.24
        }
    );
    let Shape::Ellipsoid {
        vertical_m,
        orientation_deg,
        ..
    } = s[8]
    else {
        panic!()
    };
    assert_eq!((vertical_m, orientation_deg), (28.7, 90.0));
    let Shape::Prism { base, height_m } = &s[9] else {
        panic!()
    };
    assert_eq!(*height_m, 2.4);
    assert_eq!(base.len(), 5);
    assert!(base.iter().all(|p| p.alt == Some(36.6)));
    let area = s[9].area_m2().unwrap();
    assert!(close(area, 9.107e7, 0.01 * 9.107e7), "{area}");
    let (lat, lon) = s[9].centre();
    assert!(close(lat, 42.606844, 1e-4) && close(lon, -73.298157, 1e-4));
    assert_eq!(loc.method.as_deref(), Some("Derived"));
}

#[test]
fn indonesian_civic_address() {
    let loc = parse_pidf_lo(&sample("indonesia-civic.xml")).unwrap();
    assert_eq!(loc.problems, none());
    let c = loc.civic.as_ref().unwrap();
    assert_eq!(
        c.one_line(),
        "Jalan Sudirman 12, Kebayoran Baru, Jakarta Selatan, DKI Jakarta, ID"
    );
    assert_eq!(c.lang.as_deref(), Some("id"));
    assert_eq!(loc.provided_by.as_deref(), Some("Telco Example LIS"));
    assert_eq!(loc.device_id.as_deref(), Some("imei:356938035643809"));
    assert_eq!(loc.timestamp.as_deref(), Some("2026-03-01T08:15:00+07:00"));
    assert_eq!(loc.method.as_deref(), Some("Manual"));
    assert!(loc.shapes.is_empty());
    assert_eq!(loc.centre(), None);
}

#[test]
fn a_device_with_a_circle_and_a_civic_address() {
    let loc = parse_pidf_lo(&sample("device-circle-civic.xml")).unwrap();
    // The RFC 7459 confidence is not a location and not a problem.
    assert_eq!(loc.problems, none());
    assert_eq!(loc.centre(), Some((-6.195, 106.823)));
    assert_eq!(
        loc.summary(),
        "Hotel Indonesia, fl. 3, Jalan M.H. Thamrin 1, Menteng, Jakarta Pusat, DKI Jakarta, \
         10310, ID; -6.19500, 106.82300 ±50 m"
    );
    assert_eq!(loc.method.as_deref(), Some("GPS"));
}

#[test]
fn branch_roads_and_number_first_countries() {
    let mut c = Civic::default();
    for (k, v) in [
        ("country", "ID"),
        ("RD", "Jalan Kebon Jeruk"),
        ("RDBR", "Gang Mawar"),
        ("HNO", "5"),
        ("HNS", "A"),
        ("A2", "Jakarta Barat"),
    ] {
        assert!(c.set(k, v));
    }
    assert!(!c.set("XYZ", "1"));
    assert!(c.set("rd", "ignored: first one wins"));
    assert_eq!(
        c.one_line(),
        "Jalan Kebon Jeruk, Gang Mawar 5A, Jakarta Barat, ID"
    );
    c.country = Some("US".into());
    assert_eq!(
        c.one_line(),
        "Jalan Kebon Jeruk, 5A Gang Mawar, Jakarta Barat, US"
    );
    assert_eq!(Civic::default().one_line(), "");
}

#[test]
fn unknown_formats_and_bad_shapes_are_problems_when_something_else_locates() {
    let inner = format!(
        r#"<x:LocationByReference xmlns:x="urn:example:x">https://lis/1</x:LocationByReference>
        <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>1 2</gml:pos></gs:Circle>
        <gs:Circle srsName="urn:ogc:def:crs:EPSG::3857"><gml:pos>1 2</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9001">5</gs:radius></gs:Circle>
        <gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>95 2</gml:pos></gml:Point>
        <gml:Point><gml:pos>1 two</gml:pos></gml:Point>
        <gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>1 2 3 4 1 2</gml:posList>
          </gml:LinearRing></gml:exterior></gml:Polygon>
        <gs:Sphere srsName="urn:ogc:def:crs:EPSG::4979"><gml:pos>1 2 3</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9001">-5</gs:radius></gs:Sphere>
        <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>1 2</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9093">5</gs:radius></gs:Circle>
        {POINT}
        <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-6 106</gml:pos>
          <gs:radius uom="urn:ogc:def:uom:EPSG::9036">1.5</gs:radius></gs:Circle>
        <gs:Ellipse srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-6 106</gml:pos>
          <gs:semiMajorAxis>100</gs:semiMajorAxis>
          <gs:semiMinorAxis uom="urn:ogc:def:uom:EPSG::9001">50</gs:semiMinorAxis>
          <gs:orientation uom="urn:ogc:def:uom:EPSG::9101">1.5707963267948966</gs:orientation>
        </gs:Ellipse>
        <Point srsName="urn:ogc:def:crs:EPSG::4326"><pos>-6.3 106.9</pos></Point>"#
    );
    let loc = parse_pidf_lo(wrap(&inner).as_bytes()).unwrap();
    let p = &loc.problems;
    assert_eq!(p.len(), 10, "{p:#?}");
    assert!(p[0].starts_with("unknown location format <LocationByReference>"));
    assert_eq!(p[1], "Circle skipped: no radius");
    assert!(p[2].contains("EPSG::3857") && p[2].contains("not WGS 84"));
    assert!(p[3].contains("out of range"));
    assert!(p[4].contains("\"two\""));
    assert!(p[5].contains("2 distinct points"));
    assert!(p[6].contains("negative radius"));
    assert!(p[7].contains("unknown unit"));
    assert_eq!(p[8], "semiMajorAxis has no uom; taken as metres");
    assert!(p[9].contains("read as RFC 5491"));
    assert_eq!(loc.shapes.len(), 4);
    assert_eq!(loc.shapes[0], Shape::Point(Position::new(-6.2, 106.8)));
    assert_eq!(loc.shapes[1].radius_m(), Some(1500.0));
    let Shape::Ellipse {
        orientation_deg, ..
    } = loc.shapes[2]
    else {
        panic!()
    };
    assert!(close(orientation_deg, 90.0, 1e-9));
    assert_eq!(loc.shapes[3], Shape::Point(Position::new(-6.3, 106.9)));
}

#[test]
fn no_location_at_all_is_an_error() {
    let unknown = wrap(r#"<x:Blob xmlns:x="urn:example:x"/>"#);
    let err = parse_pidf_lo(unknown.as_bytes()).unwrap_err();
    assert!(
        err.starts_with("no location in the PIDF-LO: unknown location format <Blob>"),
        "{err}"
    );
    let empty = wrap("");
    assert!(parse_pidf_lo(empty.as_bytes())
        .unwrap_err()
        .contains("empty <location-info>"));
    let presence = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b">
        <tuple id="t"><status><basic>open</basic></status></tuple></presence>"#;
    assert_eq!(
        parse_pidf_lo(presence.as_bytes()).unwrap_err(),
        "no location in the PIDF-LO"
    );
    let empty_civic = wrap("<ca:civicAddress> <ca:A1> </ca:A1></ca:civicAddress>");
    assert!(parse_pidf_lo(empty_civic.as_bytes())
        .unwrap_err()
        .contains("empty civicAddress"));
}

#[test]
fn malformed_xml_is_an_error() {
    let full = wrap(POINT);
    for cut in [10, full.len() / 2, full.len() - 3] {
        let err = parse_pidf_lo(&full.as_bytes()[..cut]).unwrap_err();
        assert!(err.starts_with("PIDF-LO is not well-formed XML"), "{err}");
    }
    assert!(parse_pidf_lo(b"").is_err());
    assert!(parse_pidf_lo(b"\xff\xfe<presence/>")
        .unwrap_err()
        .contains("not UTF-8"));
    // A byte-order mark is fine.
    let bom = format!(
        "\u{feff}{}",
        wrap(POINT).trim_start_matches("<?xml version=\"1.0\"?>\n")
    );
    assert!(parse_pidf_lo(bom.as_bytes()).is_ok());
}

#[test]
fn a_dtd_is_refused_and_no_entity_expanded() {
    let xxe = r#"<?xml version="1.0"?>
<!DOCTYPE presence [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<presence xmlns="urn:ietf:params:xml:ns:pidf"><x>&xxe;</x></presence>"#;
    assert_eq!(
        parse_pidf_lo(xxe.as_bytes()).unwrap_err(),
        "PIDF-LO with a DTD refused"
    );
    let mut laughs =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>\n<lolz>&lol9;</lolz>");
    assert_eq!(
        parse_pidf_lo(laughs.as_bytes()).unwrap_err(),
        "PIDF-LO with a DTD refused"
    );
    // Even a DTD with nothing to expand.
    let plain = format!(
        "<!DOCTYPE presence>{}",
        wrap(POINT).replace("<?xml version=\"1.0\"?>", "")
    );
    assert!(parse_pidf_lo(plain.as_bytes()).is_err());
}

#[test]
fn a_60_kib_pidf_lo() {
    // A polygon of 2,800 vertices around Jakarta, closed.
    let mut list = String::new();
    let n = 2800;
    for i in 0..=n {
        let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
        list.push_str(&format!(
            "{:.6} {:.6} ",
            -6.2 + 0.01 * a.sin(),
            106.8 + 0.01 * a.cos()
        ));
    }
    let inner = format!(
        r#"<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing>
        <gml:posList>{list}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"#
    );
    let doc = wrap(&inner);
    assert!(
        doc.len() > 50 * 1024 && doc.len() < 64 * 1024,
        "{}",
        doc.len()
    );
    let loc = parse_pidf_lo(doc.as_bytes()).unwrap();
    assert_eq!(loc.problems, none());
    let (lat, lon) = loc.centre().unwrap();
    assert!(
        close(lat, -6.2, 1e-5) && close(lon, 106.8, 1e-5),
        "{lat} {lon}"
    );
    let r = loc.shapes[0].radius_m().unwrap();
    assert!(close(r, 1112.0, 5.0), "{r}");
    // Many small elements: unknown ones are capped as problems.
    let junk = r#"<x:y xmlns:x="urn:x"/>"#.repeat(2850);
    let doc = wrap(&format!("{junk}{POINT}"));
    assert!(doc.len() > 60 * 1024, "{}", doc.len());
    let loc = parse_pidf_lo(doc.as_bytes()).unwrap();
    assert_eq!(loc.problems.len(), MAX_PROBLEMS + 1);
}

#[test]
fn gml_coordinates_forms() {
    for (text, lat, lon) in [
        ("37:46:30N 122:25:10W", 37.775, -122.41944444444444),
        ("122:25:10W 37:46:30N", 37.775, -122.41944444444444),
        ("6:12:00S,106:48:00E", -6.2, 106.8),
        ("-6.2 106.8", -6.2, 106.8),
    ] {
        let xml = wrap(&format!(
            "<gml:Point><gml:coordinates>{text}</gml:coordinates></gml:Point>"
        ));
        let loc = parse_pidf_lo(xml.as_bytes()).unwrap();
        let (a, b) = loc.centre().unwrap();
        assert!(
            close(a, lat, 1e-9) && close(b, lon, 1e-9),
            "{text}: {a} {b}"
        );
    }
    let xml = wrap("<gml:Point><gml:coordinates>1:2:3:4N 5E</gml:coordinates></gml:Point>");
    assert!(parse_pidf_lo(xml.as_bytes()).is_err());
}

fn samples() -> Vec<Vec<u8>> {
    [
        "rfc4119-6-geodetic.xml",
        "rfc4119-6-civic.xml",
        "rfc5139-4-civic.xml",
        "rfc5491-3.4-multiple.xml",
        "rfc5491-5.2-shapes.xml",
        "indonesia-civic.xml",
        "device-circle-civic.xml",
    ]
    .iter()
    .map(|n| sample(n))
    .collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_pidf_lo(&data);
    }

    #[test]
    fn mutated_samples_never_panic(
        pick in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let all = samples();
        let mut doc = all[pick.index(all.len())].clone();
        for (at, byte, op) in edits {
            let i = at.index(doc.len() + 1);
            match op {
                0 if i < doc.len() => doc[i] = byte,
                1 => doc.insert(i, byte),
                _ => doc.truncate(i.max(1)),
            }
        }
        if let Ok(loc) = parse_pidf_lo(&doc) {
            prop_assert!(!loc.shapes.is_empty() || loc.civic.is_some());
            for s in &loc.shapes {
                let _ = (s.centre(), s.radius_m(), s.area_m2(), s.describe());
            }
            let _ = loc.summary();
        }
    }

    #[test]
    fn shape_numbers_never_panic(
        nums in proptest::collection::vec(
            prop_oneof![any::<f64>().prop_map(|f| f.to_string()), "[-+0-9.eE]{0,8}", Just("NaN".to_string())],
            0..7),
        kind in 0usize..4,
    ) {
        let text = nums.join(" ");
        let inner = match kind {
            0 => format!("<gml:Point><gml:pos>{text}</gml:pos></gml:Point>"),
            1 => format!(r#"<gs:Circle><gml:pos>{text}</gml:pos><gs:radius uom="urn:ogc:def:uom:EPSG::9001">{}</gs:radius></gs:Circle>"#, nums.first().cloned().unwrap_or_default()),
            2 => format!("<gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>{text}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"),
            _ => format!(r#"<gs:ArcBand><gml:pos>0 0</gml:pos><gs:innerRadius uom="urn:ogc:def:uom:EPSG::9001">{}</gs:innerRadius><gs:outerRadius uom="urn:ogc:def:uom:EPSG::9001">{}</gs:outerRadius><gs:startAngle uom="urn:ogc:def:uom:EPSG::9102">{}</gs:startAngle><gs:openingAngle uom="urn:ogc:def:uom:EPSG::9102">{}</gs:openingAngle></gs:ArcBand>"#,
                nums.first().cloned().unwrap_or_default(), nums.get(1).cloned().unwrap_or_default(),
                nums.get(2).cloned().unwrap_or_default(), nums.get(3).cloned().unwrap_or_default()),
        };
        if let Ok(loc) = parse_pidf_lo(wrap(&inner).as_bytes()) {
            for s in &loc.shapes {
                let _ = (s.centre(), s.radius_m(), s.area_m2(), s.describe());
            }
        }
    }
}
