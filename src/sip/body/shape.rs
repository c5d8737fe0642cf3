//! The geodetic shapes of PIDF-LO (RFC 5491 §5.2), in WGS 84 degrees and
//! metres, with a centre, a covering radius and a horizontal area for the
//! operator's map.
//!
//! Geometry is done on a flat projection around the shape (an
//! equirectangular one with the mean Earth radius): for the few kilometres a
//! location shape spans this is good to well under a metre, and it keeps
//! the code short and total. Indonesia lies far from the antimeridian and
//! the poles, where it would not do.

use std::f64::consts::PI;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
const M_PER_DEG: f64 = EARTH_RADIUS_M * PI / 180.0;

/// A WGS 84 position: latitude and longitude in degrees, altitude in metres
/// (EPSG 4979) if given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    pub alt: Option<f64>,
}

impl Position {
    pub fn new(lat: f64, lon: f64) -> Position {
        Position {
            lat,
            lon,
            alt: None,
        }
    }
}

/// A PIDF-LO location shape. Distances are metres and angles degrees
/// clockwise from north, whatever units the document used.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Point(Position),
    Circle {
        centre: Position,
        radius_m: f64,
    },
    Ellipse {
        centre: Position,
        semi_major_m: f64,
        semi_minor_m: f64,
        /// Of the semi-major axis.
        orientation_deg: f64,
    },
    /// The band between two radii around `centre`, from `start_angle_deg`
    /// through `opening_angle_deg` (a cell sector, typically).
    ArcBand {
        centre: Position,
        inner_radius_m: f64,
        outer_radius_m: f64,
        start_angle_deg: f64,
        opening_angle_deg: f64,
    },
    Sphere {
        centre: Position,
        radius_m: f64,
    },
    Ellipsoid {
        centre: Position,
        semi_major_m: f64,
        semi_minor_m: f64,
        vertical_m: f64,
        orientation_deg: f64,
    },
    /// The exterior ring, as given (usually closed: last point = first).
    Polygon(Vec<Position>),
    /// A polygon base raised by `height_m`.
    Prism {
        base: Vec<Position>,
        height_m: f64,
    },
}

impl Shape {
    /// The GML / geoShape element name.
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Point(_) => "Point",
            Shape::Circle { .. } => "Circle",
            Shape::Ellipse { .. } => "Ellipse",
            Shape::ArcBand { .. } => "ArcBand",
            Shape::Sphere { .. } => "Sphere",
            Shape::Ellipsoid { .. } => "Ellipsoid",
            Shape::Polygon(_) => "Polygon",
            Shape::Prism { .. } => "Prism",
        }
    }

    /// Where to put the pin, (lat, lon): the given centre, the middle of an
    /// arc band (not the tower it is centred on, unless it is a full ring),
    /// or the area centroid of a polygon or a prism's base. NaN for a
    /// polygon without points (the parser never makes one).
    pub fn centre(&self) -> (f64, f64) {
        match self {
            Shape::Point(c)
            | Shape::Circle { centre: c, .. }
            | Shape::Ellipse { centre: c, .. }
            | Shape::Sphere { centre: c, .. }
            | Shape::Ellipsoid { centre: c, .. } => (c.lat, c.lon),
            Shape::ArcBand {
                centre,
                inner_radius_m,
                outer_radius_m,
                start_angle_deg,
                opening_angle_deg,
            } => {
                if opening_angle_deg.abs() >= 360.0 {
                    return (centre.lat, centre.lon);
                }
                let bearing = start_angle_deg + opening_angle_deg / 2.0;
                let d = (inner_radius_m + outer_radius_m) / 2.0;
                offset(*centre, d, bearing)
            }
            Shape::Polygon(points) | Shape::Prism { base: points, .. } => centroid(points),
        }
    }

    /// The radius of a circle around [`Shape::centre`] that covers the
    /// shape horizontally: as given for a circle or sphere, the semi-major
    /// axis of an ellipse or ellipsoid, computed for an arc band, polygon
    /// or prism; `None` for a point.
    pub fn radius_m(&self) -> Option<f64> {
        match self {
            Shape::Point(_) => None,
            Shape::Circle { radius_m, .. } | Shape::Sphere { radius_m, .. } => Some(*radius_m),
            Shape::Ellipse { semi_major_m, .. } | Shape::Ellipsoid { semi_major_m, .. } => {
                Some(*semi_major_m)
            }
            Shape::ArcBand {
                centre,
                inner_radius_m,
                outer_radius_m,
                start_angle_deg,
                opening_angle_deg,
            } => {
                if opening_angle_deg.abs() >= 360.0 {
                    return Some(*outer_radius_m);
                }
                let (lat, lon) = self.centre();
                let mid = Position::new(lat, lon);
                let mut far: f64 = 0.0;
                for k in 0..=16 {
                    let bearing = start_angle_deg + opening_angle_deg * f64::from(k) / 16.0;
                    for r in [*inner_radius_m, *outer_radius_m] {
                        let (plat, plon) = offset(*centre, r, bearing);
                        far = far.max(distance_m(mid, Position::new(plat, plon)));
                    }
                }
                Some(far)
            }
            Shape::Polygon(points) | Shape::Prism { base: points, .. } => {
                let (lat, lon) = centroid(points);
                let c = Position::new(lat, lon);
                points
                    .iter()
                    .map(|p| distance_m(c, *p))
                    .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))))
            }
        }
    }

    /// The horizontal area in square metres (a sphere's or ellipsoid's
    /// footprint, a prism's base); `None` for a point.
    pub fn area_m2(&self) -> Option<f64> {
        match self {
            Shape::Point(_) => None,
            Shape::Circle { radius_m, .. } | Shape::Sphere { radius_m, .. } => {
                Some(PI * radius_m * radius_m)
            }
            Shape::Ellipse {
                semi_major_m,
                semi_minor_m,
                ..
            }
            | Shape::Ellipsoid {
                semi_major_m,
                semi_minor_m,
                ..
            } => Some(PI * semi_major_m * semi_minor_m),
            Shape::ArcBand {
                inner_radius_m,
                outer_radius_m,
                opening_angle_deg,
                ..
            } => {
                let share = (opening_angle_deg.abs() / 360.0).min(1.0);
                Some(share * PI * (outer_radius_m.powi(2) - inner_radius_m.powi(2)).abs())
            }
            Shape::Polygon(points) | Shape::Prism { base: points, .. } => {
                Some(ring_area_centroid(points).map_or(0.0, |(a, _, _)| a))
            }
        }
    }

    /// `-6.22500, 106.80000 ±50 m` for the operator's screen.
    pub fn describe(&self) -> String {
        let (lat, lon) = self.centre();
        match self.radius_m() {
            Some(r) => format!("{lat:.5}, {lon:.5} ±{r:.0} m"),
            None => format!("{lat:.5}, {lon:.5}"),
        }
    }
}

/// Metres east and north of `origin`.
fn to_xy(origin: Position, p: Position) -> (f64, f64) {
    let mut dlon = p.lon - origin.lon;
    if dlon > 180.0 {
        dlon -= 360.0;
    } else if dlon < -180.0 {
        dlon += 360.0;
    }
    let x = dlon * M_PER_DEG * origin.lat.to_radians().cos();
    let y = (p.lat - origin.lat) * M_PER_DEG;
    (x, y)
}

/// The position `x` metres east and `y` north of `origin`.
fn from_xy(origin: Position, x: f64, y: f64) -> (f64, f64) {
    let lat = origin.lat + y / M_PER_DEG;
    let cos = origin.lat.to_radians().cos();
    let mut lon = if cos.abs() < 1e-9 {
        origin.lon
    } else {
        origin.lon + x / (M_PER_DEG * cos)
    };
    if lon > 180.0 {
        lon -= 360.0;
    } else if lon < -180.0 {
        lon += 360.0;
    }
    (lat, lon)
}

/// The point `d` metres from `from` on `bearing_deg` (clockwise from north).
fn offset(from: Position, d: f64, bearing_deg: f64) -> (f64, f64) {
    let b = bearing_deg.to_radians();
    from_xy(from, d * b.sin(), d * b.cos())
}

/// Horizontal distance in metres, on the flat projection around `a`.
pub(crate) fn distance_m(a: Position, b: Position) -> f64 {
    let (x, y) = to_xy(a, b);
    x.hypot(y)
}

/// The ring's vertices without the closing repeat of the first.
fn open_ring(points: &[Position]) -> &[Position] {
    match points {
        [first, .., last] if first.lat == last.lat && first.lon == last.lon => {
            &points[..points.len() - 1]
        }
        _ => points,
    }
}

/// Area (m², unsigned) and centroid (metres from the first vertex) of a
/// ring, or `None` for fewer than three vertices or no area.
fn ring_area_centroid(points: &[Position]) -> Option<(f64, f64, f64)> {
    let ring = open_ring(points);
    if ring.len() < 3 {
        return None;
    }
    let origin = ring[0];
    let xy: Vec<(f64, f64)> = ring.iter().map(|p| to_xy(origin, *p)).collect();
    let (mut a2, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for i in 0..xy.len() {
        let (x0, y0) = xy[i];
        let (x1, y1) = xy[(i + 1) % xy.len()];
        let cross = x0 * y1 - x1 * y0;
        a2 += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    if a2.abs() < 1e-6 {
        return None;
    }
    Some((a2.abs() / 2.0, cx / (3.0 * a2), cy / (3.0 * a2)))
}

/// Area centroid of a ring, the mean of its vertices if it has no area.
fn centroid(points: &[Position]) -> (f64, f64) {
    let ring = open_ring(points);
    let Some(&origin) = ring.first() else {
        return (f64::NAN, f64::NAN);
    };
    if let Some((_, x, y)) = ring_area_centroid(ring) {
        return from_xy(origin, x, y);
    }
    let n = ring.len() as f64;
    let (mut sx, mut sy) = (0.0, 0.0);
    for p in ring {
        let (x, y) = to_xy(origin, *p);
        sx += x;
        sy += y;
    }
    from_xy(origin, sx / n, sy / n)
}
