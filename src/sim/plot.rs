//! The report as an SVG: the answer-time distribution per class (the share
//! of calls answered within t, with NENA's two points), and the queue over
//! the day (mean and most calls waiting per 5 minutes) beside the seats
//! logged in. Plain SVG text, no plotting library.

use super::drive::QUEUE_BIN_S;
use super::report::{Report, NENA};
use std::fmt::Write as _;

const W: f64 = 960.0;
const H: f64 = 820.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const COLOURS: &[&str] = &[
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Panel {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    xmax: f64,
    ymax: f64,
}

impl Panel {
    fn x(&self, v: f64) -> f64 {
        self.x0 + v / self.xmax * self.w
    }
    fn y(&self, v: f64) -> f64 {
        self.y0 + self.h - v / self.ymax * self.h
    }

    fn axes(
        &self,
        o: &mut String,
        xticks: &[(f64, String)],
        yticks: &[(f64, String)],
        xlabel: &str,
        ylabel: &str,
    ) {
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/>"##,
            self.x0, self.y0, self.w, self.h
        );
        for (v, l) in xticks {
            let x = self.x(*v);
            let _ = writeln!(
                o,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                self.y0,
                self.y0 + self.h,
                self.y0 + self.h + 18.0,
                esc(l)
            );
        }
        for (v, l) in yticks {
            let y = self.y(*v);
            let _ = writeln!(
                o,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                self.x0,
                self.x0 + self.w,
                self.x0 - 6.0,
                y + 4.0,
                esc(l)
            );
        }
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            self.x0 + self.w / 2.0,
            self.y0 + self.h + 40.0,
            esc(xlabel)
        );
        let (lx, ly) = (self.x0 - 55.0, self.y0 + self.h / 2.0);
        let _ = writeln!(
            o,
            r##"<text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"##,
            esc(ylabel)
        );
    }

    fn polyline(
        &self,
        o: &mut String,
        pts: &[(f64, f64)],
        colour: &str,
        width: f64,
        dash: Option<&str>,
    ) {
        let mut d = String::new();
        for (x, y) in pts {
            let _ = write!(d, "{:.1},{:.1} ", self.x(*x), self.y(*y));
        }
        let dash = dash
            .map(|d| format!(r#" stroke-dasharray="{d}""#))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>"#,
            d.trim_end()
        );
    }
}

fn legend(o: &mut String, x: f64, y: f64, items: &[(String, String, bool)]) {
    for (k, (label, colour, dashed)) in items.iter().enumerate() {
        let yy = y + k as f64 * 20.0;
        let dash = if *dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            o,
            r#"<line x1="{x:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{colour}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
            x + 24.0,
            x + 30.0,
            yy + 4.0,
            esc(label)
        );
    }
}

/// The SVG of a report.
pub fn svg(r: &Report) -> String {
    svg_many(&[r])
}

/// Several reports' plots, one under the other (`--compare`).
pub fn svg_many(rs: &[&Report]) -> String {
    let total = H * rs.len() as f64;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total}" viewBox="0 0 {W} {total}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(o, r##"<rect width="{W}" height="{total}" fill="#fff"/>"##);
    for (k, r) in rs.iter().enumerate() {
        let _ = writeln!(o, r#"<g transform="translate(0 {})">"#, H * k as f64);
        body(&mut o, r);
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    o
}

fn body(o: &mut String, r: &Report) {
    let o = &mut *o;
    let title = format!(
        "{}: {} h, {} calls, {} seats max, {}, NENA for {}: {}",
        r.scenario,
        r.hours,
        r.calls,
        r.seats,
        if r.prank_aware { "prank-aware" } else { "FIFO" },
        r.nena.classes.join(", "),
        if r.nena.met { "met" } else { "NOT met" }
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="28" font-size="16" font-weight="bold">{}</text>"#,
        esc(&title)
    );

    // Panel 1: share answered within t, per class.
    let p = Panel {
        x0: LEFT,
        y0: 70.0,
        w: W - LEFT - RIGHT,
        h: 280.0,
        xmax: 60.0,
        ymax: 1.0,
    };
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="58" font-weight="bold">Answer time: share of each class's calls answered within t</text>"#
    );
    let xt: Vec<(f64, String)> = (0..=12)
        .map(|k| (k as f64 * 5.0, format!("{}", k * 5)))
        .collect();
    let yt: Vec<(f64, String)> = (0..=10)
        .map(|k| (k as f64 / 10.0, format!("{} %", k * 10)))
        .collect();
    p.axes(
        o,
        &xt,
        &yt,
        "seconds from arrival to answer (ringing included)",
        "share of calls offered",
    );
    let mut items = Vec::new();
    for (k, (name, hist)) in r.answer_hist.iter().enumerate() {
        let offered = r.classes.get(name).map_or(0, |s| s.offered);
        if offered == 0 {
            continue;
        }
        let colour = COLOURS[k % COLOURS.len()];
        let mut acc = 0u64;
        let mut pts = vec![(0.0, 0.0)];
        for (sec, n) in hist.iter().enumerate().take(60) {
            acc += n;
            pts.push((sec as f64 + 1.0, acc as f64 / offered as f64));
        }
        let nena = r.nena.classes.contains(name);
        p.polyline(o, &pts, colour, if nena { 3.0 } else { 2.0 }, None);
        items.push((format!("{name} ({offered})"), colour.to_string(), false));
    }
    for (sec, share) in NENA {
        let (x, y) = (p.x(sec as f64), p.y(share));
        // 15 s: label left of the mark, below it; 20 s: right of it, above.
        let (lx, ly, anchor) = if sec == 15 {
            (x - 8.0, y + 22.0, "end")
        } else {
            (x + 8.0, y - 8.0, "start")
        };
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#000" stroke-dasharray="4,4"/><circle cx="{x:.1}" cy="{y:.1}" r="5" fill="none" stroke="#000" stroke-width="2"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" font-weight="bold">NENA: {:.0} % in {sec} s</text>"##,
            p.y0,
            p.y0 + p.h,
            share * 100.0
        );
    }
    legend(o, W - RIGHT + 20.0, p.y0 + 10.0, &items);

    // Panel 2: queue over the day.
    let bins = r.queue_bins.len().max(1);
    let qmax = r.queue_bins.iter().map(|b| b.1).max().unwrap_or(0);
    let smax = r.seat_bins.iter().copied().max().unwrap_or(0);
    let ymax = f64::from(qmax.max(smax)).max(1.0);
    let step = if ymax <= 10.0 {
        1.0
    } else if ymax <= 25.0 {
        5.0
    } else if ymax <= 100.0 {
        10.0
    } else {
        (ymax / 10.0).ceil()
    };
    let ymax = (ymax / step).ceil() * step;
    let q = Panel {
        x0: LEFT,
        y0: 450.0,
        w: W - LEFT - RIGHT,
        h: 290.0,
        xmax: 24.0,
        ymax,
    };
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="438" font-weight="bold">Calls waiting over the day (5-minute bins{}) and seats logged in</text>"#,
        if r.hours > 24.0 {
            ", all days folded"
        } else {
            ""
        }
    );
    let xt: Vec<(f64, String)> = (0..=12)
        .map(|k| (k as f64 * 2.0, format!("{:02}:00", k * 2)))
        .collect();
    let yt: Vec<(f64, String)> = (0..=(ymax / step) as u32)
        .map(|k| (f64::from(k) * step, format!("{}", f64::from(k) * step)))
        .collect();
    q.axes(o, &xt, &yt, "hour of the day", "calls / seats");
    let bw = q.w / bins as f64;
    for (b, (_, max)) in r.queue_bins.iter().enumerate() {
        if *max == 0 {
            continue;
        }
        let x = q.x0 + b as f64 * bw;
        let y = q.y(f64::from(*max));
        let _ = writeln!(
            o,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#f4b6b6"/>"##,
            bw.max(0.5),
            q.y0 + q.h - y
        );
    }
    let hour = |b: usize| (b as u64 * QUEUE_BIN_S) as f64 / 3600.0;
    let mean: Vec<(f64, f64)> = r
        .queue_bins
        .iter()
        .enumerate()
        .map(|(b, m)| (hour(b) + QUEUE_BIN_S as f64 / 7200.0, m.0))
        .collect();
    q.polyline(o, &mean, "#d62728", 2.0, None);
    let mut seats = Vec::new();
    for (b, s) in r.seat_bins.iter().enumerate() {
        seats.push((hour(b), f64::from(*s)));
        seats.push((hour(b + 1), f64::from(*s)));
    }
    q.polyline(o, &seats, "#1f77b4", 2.0, Some("5,3"));
    legend(
        o,
        W - RIGHT + 20.0,
        q.y0 + 10.0,
        &[
            ("mean waiting".into(), "#d62728".into(), false),
            ("most waiting".into(), "#f4b6b6".into(), false),
            ("seats logged in".into(), "#1f77b4".into(), true),
        ],
    );
    let _ = writeln!(
        o,
        r##"<text x="{LEFT}" y="{:.1}" fill="#555">occupancy {:.1} %; answer delay {} s; seed {}</text>"##,
        H - 20.0,
        100.0 * r.occupancy,
        r.answer_delay_s,
        r.seed
    );
}
