//! PIDF-LO: the caller's location in a presence document (RFC 4119, with the
//! RFC 4479 data model and the shapes of RFC 5491, civic addresses of RFC
//! 5139).
//!
//! Every `<gp:location-info>` in the document is read, wherever it is: in a
//! `<tuple>`'s status (RFC 4119), or in a `<dm:device>` or `<dm:person>`
//! (RFC 5491 §3.1). Its children may be GML shapes (directly, or inside
//! RFC 4119's `<gml:location>`), geoShape shapes, and a `civicAddress`.
//! Shapes from all of them are kept in document order; the first civic
//! address is kept. The method, timestamp, provider and device id come from
//! the first element that gave a location.
//!
//! An unknown location format, a shape with bad numbers or an unsupported
//! coordinate system is a problem, and the rest is still read; only a
//! document with no location at all is an error. Documents with a DTD are
//! refused (roxmltree does so by default; we ask for it explicitly), so no
//! entity is ever expanded or fetched.

use super::civic::{collapse, Civic};
use super::note;
use super::shape::{Position, Shape};
use roxmltree::{Document, Node, ParsingOptions};

const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
const NS_GP: &str = "urn:ietf:params:xml:ns:pidf:geopriv10";
const NS_CIVIC: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr";
/// RFC 4119's civic namespace, before RFC 5139.
const NS_CIVIC_4119: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc";
const NS_GML: &str = "http://www.opengis.net/gml";
/// The GML 3.0 namespace RFC 4119's examples use.
const NS_GML_4119: &str = "urn:opengis:specification:gml:schema-xsd:feature:v3.0";
const NS_GS: &str = "urn:ietf:params:xml:ns:pidf:geopriv10:geoShape";
/// The OGC GeoShape application schema's namespace, as RFC 5491's
/// examples and most NG112 networks write it.
const NS_GS_OGC: &str = "http://www.opengis.net/pidflo/1.0";
/// Siblings of a shape that are not a location: RFC 7459 confidence, RFC
/// 5962 dynamic (speed, heading).
const NS_IGNORED: &[&str] = &[
    "urn:ietf:params:xml:ns:geopriv:conf",
    "urn:ietf:params:xml:ns:pidf:geopriv10:dynamic",
];

/// A bound on the document's size in nodes (a 64 KiB body has far fewer).
const MAX_NODES: u32 = 100_000;

/// What a PIDF-LO says about where the caller is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    /// Geodetic shapes, in document order.
    pub shapes: Vec<Shape>,
    pub civic: Option<Civic>,
    /// `<gp:method>`: how the location was found (`GPS`, `Cell`, `802.11`...).
    pub method: Option<String>,
    /// The `<timestamp>` of the tuple, device or person that holds it.
    pub timestamp: Option<String>,
    /// `<gp:provided-by>`, as text.
    pub provided_by: Option<String>,
    /// `<dm:deviceID>` of the device (`mac:...`, `imei:...`).
    pub device_id: Option<String>,
    /// The presentity: `<presence entity=...>`.
    pub entity: Option<String>,
    /// Usage rules (RFC 4119 §2.2.2, RFC 4745): `retransmission-allowed`.
    pub retransmission_allowed: Option<bool>,
    pub retention_expiry: Option<String>,
    /// What could not be read (short, human-readable).
    pub problems: Vec<String>,
}

impl Location {
    /// The first shape's centre, (lat, lon).
    pub fn centre(&self) -> Option<(f64, f64)> {
        self.shapes.first().map(Shape::centre)
    }

    /// One line for the operator: the civic address, then the first shape
    /// (`Jalan Sudirman 12, ..., ID; -6.22500, 106.80000 ±50 m`).
    pub fn summary(&self) -> String {
        let civic = self.civic.as_ref().map(Civic::one_line);
        let shape = self.shapes.first().map(Shape::describe);
        match (civic.filter(|c| !c.is_empty()), shape) {
            (Some(c), Some(s)) => format!("{c}; {s}"),
            (Some(c), None) => c,
            (None, Some(s)) => s,
            (None, None) => String::new(),
        }
    }
}

/// Reads a PIDF-LO document (the bytes of an `application/pidf+xml` part).
/// `Err` says why there is no location at all: not UTF-8, not well-formed,
/// a DTD, or no location element that could be read.
pub fn parse_pidf_lo(xml: &[u8]) -> Result<Location, String> {
    let text = std::str::from_utf8(xml)
        .map_err(|e| format!("PIDF-LO is not UTF-8 (at byte {})", e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => "PIDF-LO with a DTD refused".to_string(),
        roxmltree::Error::NodesLimitReached => {
            format!("PIDF-LO has more than {MAX_NODES} XML nodes")
        }
        e => format!("PIDF-LO is not well-formed XML: {e}"),
    })?;
    let root = doc.root_element();
    let mut loc = Location::default();
    let presence = root.tag_name().name() == "presence";
    if presence {
        loc.entity = root.attribute("entity").map(collapse);
        if ns(root) != NS_PIDF {
            note(
                &mut loc.problems,
                format!("<presence> in namespace {:?}, not PIDF", ns(root)),
            );
        }
    } else {
        note(
            &mut loc.problems,
            format!(
                "root element is <{}>, not <presence>",
                root.tag_name().name()
            ),
        );
    }
    let infos: Vec<Node> = root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "location-info")
        .collect();
    if infos.is_empty() && !presence {
        // A bare location element as the whole document (RFC 5139 §4 shows
        // a civicAddress alone).
        location_element(root, true, &mut loc);
    }
    for info in infos {
        if ns(info) != NS_GP {
            note(
                &mut loc.problems,
                format!("<location-info> in namespace {:?}", ns(info)),
            );
        }
        let before = (loc.shapes.len(), loc.civic.is_some());
        let mut any = false;
        for child in elements(info) {
            any = true;
            location_element(child, true, &mut loc);
        }
        if !any {
            note(&mut loc.problems, "empty <location-info>".to_string());
        }
        if loc.shapes.len() > before.0 || loc.civic.is_some() != before.1 {
            metadata(info, &mut loc);
        }
    }
    if loc.shapes.is_empty() && loc.civic.is_none() {
        let mut why = "no location in the PIDF-LO".to_string();
        if !loc.problems.is_empty() {
            why.push_str(": ");
            why.push_str(&loc.problems.join("; "));
        }
        return Err(why);
    }
    Ok(loc)
}

/// The namespace of an element, trimmed (RFC 4119's civic example has a
/// stray space in its namespace URI, and copies of it are about).
fn ns<'a>(n: Node<'a, '_>) -> &'a str {
    n.tag_name().namespace().unwrap_or("").trim()
}

fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(Node::is_element)
}

/// The first child element with this local name.
fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    elements(n).find(|c| c.tag_name().name() == name)
}

/// All the text inside an element, whitespace collapsed.
fn text_of(n: Node) -> String {
    let mut s = String::new();
    for t in n.descendants().filter(Node::is_text) {
        s.push_str(t.text().unwrap_or_default());
        s.push(' ');
    }
    collapse(&s)
}

const SHAPES_GML: &[&str] = &["Point", "Polygon"];
const SHAPES_GS: &[&str] = &[
    "Circle",
    "Ellipse",
    "ArcBand",
    "Sphere",
    "Ellipsoid",
    "Prism",
];

/// Reads one child of `<location-info>` into `loc`.
fn location_element(n: Node, wrapper_ok: bool, loc: &mut Location) {
    let (name, space) = (n.tag_name().name(), ns(n));
    let gml = space == NS_GML || space == NS_GML_4119;
    if name == "location" && gml && wrapper_ok {
        for c in elements(n) {
            location_element(c, false, loc);
        }
    } else if name == "civicAddress" {
        if space != NS_CIVIC && space != NS_CIVIC_4119 {
            note(
                &mut loc.problems,
                format!("civicAddress in namespace {space:?} read as RFC 5139"),
            );
        }
        let civic = read_civic(n, &mut loc.problems);
        if civic.is_empty() {
            note(&mut loc.problems, "empty civicAddress".to_string());
        } else if loc.civic.is_some() {
            note(
                &mut loc.problems,
                "more than one civicAddress; the first is kept".to_string(),
            );
        } else {
            loc.civic = Some(civic);
        }
    } else if SHAPES_GML.contains(&name) || SHAPES_GS.contains(&name) {
        let expected = if SHAPES_GML.contains(&name) {
            gml
        } else {
            space == NS_GS || space == NS_GS_OGC
        };
        if !expected {
            note(
                &mut loc.problems,
                format!("{name} in namespace {space:?} read as RFC 5491"),
            );
        }
        match read_shape(n, &mut loc.problems) {
            Ok(shape) => loc.shapes.push(shape),
            Err(why) => note(&mut loc.problems, format!("{name} skipped: {why}")),
        }
    } else if !NS_IGNORED.contains(&space) {
        note(
            &mut loc.problems,
            format!("unknown location format <{name}> in namespace {space:?}"),
        );
    }
}

/// Method, usage rules, provider, timestamp and device id around a
/// `<location-info>` that gave a location; only fields still empty are set.
fn metadata(info: Node, loc: &mut Location) {
    let set = |slot: &mut Option<String>, v: Option<String>| {
        if slot.is_none() {
            *slot = v.filter(|v| !v.is_empty());
        }
    };
    if let Some(geopriv) = info
        .parent_element()
        .filter(|p| p.tag_name().name() == "geopriv")
    {
        set(&mut loc.method, child(geopriv, "method").map(text_of));
        if let Some(by) = child(geopriv, "provided-by") {
            let text = text_of(by);
            let name = || elements(by).next().map(|c| c.tag_name().name().to_string());
            set(
                &mut loc.provided_by,
                if text.is_empty() { name() } else { Some(text) },
            );
        }
        if let Some(rules) = child(geopriv, "usage-rules") {
            if loc.retransmission_allowed.is_none() {
                loc.retransmission_allowed = child(rules, "retransmission-allowed").and_then(|r| {
                    match text_of(r).to_ascii_lowercase().as_str() {
                        "yes" | "true" | "1" => Some(true),
                        "no" | "false" | "0" => Some(false),
                        _ => None,
                    }
                });
            }
            set(
                &mut loc.retention_expiry,
                child(rules, "retention-expiry").map(text_of),
            );
        }
    }
    let holder = info
        .ancestors()
        .skip(1)
        .find(|a| a.is_element() && matches!(a.tag_name().name(), "tuple" | "device" | "person"));
    if let Some(h) = holder {
        set(&mut loc.timestamp, child(h, "timestamp").map(text_of));
        if h.tag_name().name() == "device" && ns(h) == NS_DM {
            set(&mut loc.device_id, child(h, "deviceID").map(text_of));
        }
    }
}

fn read_civic(n: Node, problems: &mut Vec<String>) -> Civic {
    let mut civic = Civic {
        lang: n.attribute((roxmltree::NS_XML_URI, "lang")).map(collapse),
        ..Civic::default()
    };
    for c in elements(n) {
        let name = c.tag_name().name();
        let known = civic.set(name, &text_of(c));
        let space = ns(c);
        if !known && (space == NS_CIVIC || space == NS_CIVIC_4119) {
            note(problems, format!("unknown civic element <{name}>"));
        }
    }
    civic
}

/// The coordinate dimension of the shape an element belongs to: from the
/// nearest `srsName` (EPSG 4326: 2, EPSG 4979: 3; none: 2). Other systems
/// are refused.
fn dimension(n: Node) -> Result<usize, String> {
    let Some(srs) = n.ancestors().find_map(|a| a.attribute("srsName")) else {
        return Ok(2);
    };
    let code = srs.trim().rsplit(':').next().unwrap_or_default();
    match code {
        "4326" => Ok(2),
        "4979" => Ok(3),
        _ => Err(format!(
            "coordinate system {srs:?} is not WGS 84 (EPSG 4326 or 4979)"
        )),
    }
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn position(nums: &[f64]) -> Result<Position, String> {
    let (lat, lon, alt) = match *nums {
        [lat, lon] => (lat, lon, None),
        [lat, lon, alt] => (lat, lon, Some(alt)),
        _ => return Err(format!("a position with {} numbers", nums.len())),
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("position {lat} {lon} out of range"));
    }
    Ok(Position { lat, lon, alt })
}

fn numbers(n: Node, what: &str) -> Result<Vec<f64>, String> {
    text_of(n)
        .split_ascii_whitespace()
        .map(|t| number(t).ok_or_else(|| format!("{what} holds {t:?}, not a number")))
        .collect()
}

/// `<gml:pos>`.
fn pos(n: Node) -> Result<Position, String> {
    position(&numbers(n, "pos")?)
}

/// RFC 4119's `<gml:coordinates>37:46:30N 122:25:10W</gml:coordinates>`:
/// decimal degrees or degrees:minutes:seconds with a hemisphere letter,
/// latitude first unless the letters say otherwise.
fn coordinates(n: Node) -> Result<Position, String> {
    let text = text_of(n);
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let mut vals = Vec::new();
    let mut lon_first = false;
    for (i, t) in tokens.iter().enumerate() {
        let (v, hemi) = dms(t).ok_or_else(|| format!("coordinates hold {t:?}"))?;
        if i == 0 && matches!(hemi, Some('E' | 'W')) {
            lon_first = true;
        }
        vals.push(v);
    }
    if lon_first && vals.len() >= 2 {
        vals.swap(0, 1);
    }
    position(&vals)
}

/// `37:46:30N` -> (37.775, Some('N')); `-122.42` -> (-122.42, None).
fn dms(t: &str) -> Option<(f64, Option<char>)> {
    let last = t.chars().last()?.to_ascii_uppercase();
    let (body, hemi) = match last {
        'N' | 'S' | 'E' | 'W' => (&t[..t.len() - 1], Some(last)),
        _ => (t, None),
    };
    let mut v = 0.0;
    let mut scale = 1.0;
    let mut count = 0;
    for piece in body.split(':') {
        count += 1;
        if count > 3 {
            return None;
        }
        let x = number(piece)?;
        v += x.abs() / scale;
        scale *= 60.0;
    }
    let negative = body.trim_start().starts_with('-') || matches!(hemi, Some('S' | 'W'));
    Some((if negative { -v } else { v }, hemi))
}

/// The ring of a `<gml:Polygon>`: `exterior/LinearRing` with `pos`
/// elements or a `posList`.
fn ring(polygon: Node) -> Result<Vec<Position>, String> {
    let lr = child(polygon, "exterior")
        .and_then(|e| child(e, "LinearRing"))
        .ok_or("no exterior/LinearRing")?;
    let mut points = Vec::new();
    if let Some(list) = child(lr, "posList") {
        let dim = match list.attribute("srsDimension") {
            Some(d) => match d.trim() {
                "2" => 2,
                "3" => 3,
                _ => return Err(format!("posList with srsDimension {d:?}")),
            },
            None => dimension(list)?,
        };
        let nums = numbers(list, "posList")?;
        if nums.len() % dim != 0 {
            return Err(format!("posList of {} numbers in {dim}-D", nums.len()));
        }
        for c in nums.chunks(dim) {
            points.push(position(c)?);
        }
    } else {
        for p in elements(lr) {
            match p.tag_name().name() {
                "pos" => points.push(pos(p)?),
                "coordinates" => points.push(coordinates(p)?),
                _ => {}
            }
        }
    }
    let mut distinct: Vec<(u64, u64)> = points
        .iter()
        .map(|p| (p.lat.to_bits(), p.lon.to_bits()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return Err(format!("{} distinct points, not 3 or more", distinct.len()));
    }
    Ok(points)
}

#[derive(Clone, Copy)]
enum Unit {
    Length,
    Angle,
}

/// A measure child (`<gs:radius uom="urn:ogc:def:uom:EPSG::9001">850</gs:radius>`)
/// in metres or degrees.
fn measure(shape: Node, name: &str, unit: Unit, problems: &mut Vec<String>) -> Result<f64, String> {
    let n = child(shape, name).ok_or_else(|| format!("no {name}"))?;
    let text = text_of(n);
    let v = number(&text).ok_or_else(|| format!("{name} is {text:?}, not a number"))?;
    let uom = n.attribute("uom").map(str::trim);
    let code = uom.map(|u| u.rsplit(':').next().unwrap_or_default());
    let v = match (unit, code) {
        (Unit::Length, None) => {
            note(problems, format!("{name} has no uom; taken as metres"));
            v
        }
        (Unit::Angle, None) => {
            note(problems, format!("{name} has no uom; taken as degrees"));
            v
        }
        (Unit::Length, Some("9001")) => v,
        (Unit::Length, Some("9036")) => v * 1000.0,
        (Unit::Angle, Some("9102")) => v,
        (Unit::Angle, Some("9101")) => v.to_degrees(),
        (_, Some(_)) => return Err(format!("{name} in unknown unit {:?}", uom.unwrap_or(""))),
    };
    if matches!(unit, Unit::Length) && v < 0.0 {
        return Err(format!("negative {name}"));
    }
    Ok(v)
}

fn centre(shape: Node) -> Result<Position, String> {
    match child(shape, "pos") {
        Some(p) => pos(p),
        None => match child(shape, "coordinates") {
            Some(c) => coordinates(c),
            None => Err("no pos".to_string()),
        },
    }
}

fn read_shape(n: Node, problems: &mut Vec<String>) -> Result<Shape, String> {
    dimension(n)?;
    let (l, a) = (Unit::Length, Unit::Angle);
    let mut m = |name: &str, unit: Unit| measure(n, name, unit, problems);
    Ok(match n.tag_name().name() {
        "Point" => Shape::Point(centre(n)?),
        "Circle" => Shape::Circle {
            centre: centre(n)?,
            radius_m: m("radius", l)?,
        },
        "Sphere" => Shape::Sphere {
            centre: centre(n)?,
            radius_m: m("radius", l)?,
        },
        "Ellipse" => Shape::Ellipse {
            centre: centre(n)?,
            semi_major_m: m("semiMajorAxis", l)?,
            semi_minor_m: m("semiMinorAxis", l)?,
            orientation_deg: m("orientation", a)?,
        },
        "Ellipsoid" => Shape::Ellipsoid {
            centre: centre(n)?,
            semi_major_m: m("semiMajorAxis", l)?,
            semi_minor_m: m("semiMinorAxis", l)?,
            vertical_m: m("verticalAxis", l)?,
            orientation_deg: m("orientation", a)?,
        },
        "ArcBand" => Shape::ArcBand {
            centre: centre(n)?,
            inner_radius_m: m("innerRadius", l)?,
            outer_radius_m: m("outerRadius", l)?,
            start_angle_deg: m("startAngle", a)?,
            opening_angle_deg: m("openingAngle", a)?,
        },
        "Polygon" => Shape::Polygon(ring(n)?),
        "Prism" => {
            let polygon = child(n, "base")
                .and_then(|b| child(b, "Polygon"))
                .ok_or("no base/Polygon")?;
            Shape::Prism {
                base: ring(polygon)?,
                height_m: m("height", l)?,
            }
        }
        other => return Err(format!("unknown shape {other}")),
    })
}
