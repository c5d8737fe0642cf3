//! Civic addresses (RFC 5139, updating RFC 4119's `civicLoc`), and the one
//! line an operator reads back to the caller.
//!
//! Values are XML `token`s: surrounding whitespace is dropped and inner runs
//! of it become one space. Where an element repeats (RFC 5139 allows one per
//! language) the first is kept.

/// Declares [`Civic`] with one field per element, and its lookups.
macro_rules! civic {
    ($($(#[$doc:meta])* $field:ident = $elem:literal,)*) => {
        /// The civic address elements of RFC 5139 §3.1, each as sent
        /// (whitespace collapsed). `lang` is the `xml:lang` of the
        /// `civicAddress` element.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Civic {
            pub lang: Option<String>,
            $($(#[$doc])* pub $field: Option<String>,)*
        }

        impl Civic {
            /// The field an element name (any case) fills, if it is one.
            fn slot(&mut self, element: &str) -> Option<&mut Option<String>> {
                $(if element.eq_ignore_ascii_case($elem) {
                    return Some(&mut self.$field);
                })*
                None
            }

            /// Every element that has a value: (element name, value).
            pub fn fields(&self) -> Vec<(&'static str, &str)> {
                let mut out = Vec::new();
                $(if let Some(v) = &self.$field {
                    out.push(($elem, v.as_str()));
                })*
                out
            }
        }
    };
}

civic! {
    /// ISO 3166 alpha-2 country code (`ID`).
    country = "country",
    /// State, province (Indonesia: provinsi, `DKI Jakarta`).
    a1 = "A1",
    /// County, regency, city (kabupaten/kota, `Jakarta Selatan`).
    a2 = "A2",
    /// City, district (kecamatan, `Kebayoran Baru`).
    a3 = "A3",
    /// City division, borough (kelurahan/desa).
    a4 = "A4",
    /// Neighbourhood.
    a5 = "A5",
    /// Street in RFC 4119; group of streets below the neighbourhood in RFC 5139.
    a6 = "A6",
    /// Leading street direction.
    prd = "PRD",
    /// Trailing street suffix.
    pod = "POD",
    /// Street suffix or type.
    sts = "STS",
    /// House number.
    hno = "HNO",
    /// House number suffix.
    hns = "HNS",
    /// Landmark or vanity address.
    lmk = "LMK",
    /// Additional location information.
    loc = "LOC",
    /// Floor.
    flr = "FLR",
    /// Name (residence, business or office occupant).
    nam = "NAM",
    /// Postal code.
    pc = "PC",
    /// Primary road or street.
    rd = "RD",
    /// Road section.
    rdsec = "RDSEC",
    /// Road branch.
    rdbr = "RDBR",
    /// Road sub-branch.
    rdsubbr = "RDSUBBR",
    /// Road pre-modifier.
    prm = "PRM",
    /// Road post-modifier.
    pom = "POM",
    /// Building.
    bld = "BLD",
    /// Unit (apartment, suite).
    unit = "UNIT",
    /// Room.
    room = "ROOM",
    /// Seat (desk, cubicle, workstation).
    seat = "SEAT",
    /// Place type (RFC 4589: `store`, `residence`...).
    plc = "PLC",
    /// Postal community name.
    pcn = "PCN",
    /// Post office box.
    pobox = "POBOX",
    /// Additional code.
    addcode = "ADDCODE",
}

/// Countries that write the house number before the street (`123 Broadway`);
/// elsewhere, Indonesia included, it follows (`Jalan Sudirman 12`).
const NUMBER_FIRST: &[&str] = &[
    "US", "CA", "AU", "NZ", "GB", "IE", "FR", "SG", "MY", "PH", "IN", "ZA", "LK",
];

impl Civic {
    /// Sets an element's value (first one wins); `false` if `element` is
    /// not a civic address element.
    pub fn set(&mut self, element: &str, value: &str) -> bool {
        let value = collapse(value);
        match self.slot(element) {
            Some(slot) => {
                if slot.is_none() && !value.is_empty() {
                    *slot = Some(value);
                }
                true
            }
            None => false,
        }
    }

    /// Whether no element has a value.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// One line for the operator's screen, most specific first: place name
    /// and building, unit/floor/room/seat, the road (then its branch and
    /// sub-branch, as in `Jalan Kebon Jeruk, Gang Mawar 5`) with the house
    /// number on the last of them, extra location text and landmark, the
    /// administrative areas A6 to A1, postal community and code, PO box,
    /// country. For example
    /// `Jalan Sudirman 12, Kebayoran Baru, Jakarta Selatan, DKI Jakarta, ID`.
    ///
    /// Values are shown as sent, with no abbreviation: the operator may read
    /// them back to the caller. The number follows the road except in the
    /// few countries that write it first (`123 Broadway`). A6 is the street
    /// when there is no RD, as RFC 4119 used it. An area equal to the one
    /// just below it (kelurahan Menteng in kecamatan Menteng) is shown once.
    pub fn one_line(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |s: Option<&str>| {
            if let Some(s) = s.filter(|s| !s.is_empty()) {
                parts.push(s.to_string());
            }
        };
        push(get(&self.nam));
        push(get(&self.bld));
        let inside = [
            ("unit", &self.unit),
            ("fl.", &self.flr),
            ("room", &self.room),
            ("seat", &self.seat),
        ];
        let inside = join(
            inside
                .iter()
                .filter_map(|(label, v)| get(v).map(|v| format!("{label} {v}"))),
        );
        push(Some(&inside));
        let a6_is_street = get(&self.rd).is_none() && get(&self.a6).is_some();
        let road = if a6_is_street { &self.a6 } else { &self.rd };
        // The road, then its branch and sub-branch (each a road of its own
        // name); the house number goes with the last of them.
        let mut roads: Vec<String> = [
            join(
                [
                    &self.prm,
                    &self.prd,
                    road,
                    &self.sts,
                    &self.pod,
                    &self.pom,
                    &self.rdsec,
                ]
                .into_iter()
                .filter_map(|v| get(v).map(str::to_string)),
            ),
            get(&self.rdbr).unwrap_or_default().to_string(),
            get(&self.rdsubbr).unwrap_or_default().to_string(),
        ]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect();
        let number = format!(
            "{}{}",
            get(&self.hno).unwrap_or_default(),
            get(&self.hns).unwrap_or_default()
        );
        let number_first = get(&self.country)
            .is_some_and(|c| NUMBER_FIRST.iter().any(|n| n.eq_ignore_ascii_case(c)));
        if !number.is_empty() {
            match roads.last_mut() {
                Some(r) if number_first => *r = format!("{number} {r}"),
                Some(r) => *r = format!("{r} {number}"),
                None => roads.push(number),
            }
        }
        for r in &roads {
            push(Some(r));
        }
        push(get(&self.loc));
        push(get(&self.lmk));
        // A6 (unless it was the street) to A1, an area that only repeats the
        // one below it left out (Menteng in Menteng).
        let mut below: Option<&str> = None;
        let a6 = if a6_is_street { &None } else { &self.a6 };
        for area in [a6, &self.a5, &self.a4, &self.a3, &self.a2, &self.a1] {
            if let Some(a) = get(area) {
                if !below.is_some_and(|b| b.eq_ignore_ascii_case(a)) {
                    push(Some(a));
                }
            }
            below = get(area);
        }
        // The postal community, unless it repeats an area already shown.
        let areas = [&self.a6, &self.a5, &self.a4, &self.a3, &self.a2, &self.a1];
        push(get(&self.pcn).filter(|pcn| {
            !areas
                .iter()
                .any(|a| get(a).is_some_and(|a| a.eq_ignore_ascii_case(pcn)))
        }));
        push(get(&self.pc));
        push(get(&self.pobox));
        push(get(&self.country));
        parts.join(", ")
    }
}

fn get(f: &Option<String>) -> Option<&str> {
    f.as_deref().filter(|s| !s.is_empty())
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

/// XML `token` whitespace: trimmed, inner runs collapsed to one space.
pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
