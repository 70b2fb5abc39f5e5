//! Page layout: blocks set top to bottom, a new page when one does not fit, page numbers.

use super::svg::{self, Anchor, Svg, MONO, SANS};

pub const PAGE_W: f64 = 595.0;
pub const PAGE_H: f64 = 842.0;
pub const PNG_W: f64 = 1600.0;
pub const PNG_H: f64 = 900.0;
pub(super) const MARGIN: f64 = 40.0;

/// Lays out pages top to bottom, starting a new one when a block does not fit.
pub(super) struct Pages {
    done: Vec<String>,
    pub(super) cur: Svg,
    pub(super) y: f64,
    title: String,
}

impl Pages {
    pub(super) fn new(title: String) -> Pages {
        Pages {
            done: Vec::new(),
            cur: Svg::new(PAGE_W, PAGE_H),
            y: MARGIN,
            title,
        }
    }

    pub(super) fn ensure(&mut self, height: f64) {
        if self.y + height > PAGE_H - MARGIN {
            self.break_page();
        }
    }

    pub(super) fn break_page(&mut self) {
        let n = self.done.len() + 1;
        let mut page = std::mem::replace(&mut self.cur, Svg::new(PAGE_W, PAGE_H));
        page.text_styled(
            MARGIN,
            PAGE_H - 20.0,
            7.0,
            SANS,
            false,
            "#888",
            Anchor::Start,
            &self.title,
        );
        page.text_styled(
            PAGE_W - MARGIN,
            PAGE_H - 20.0,
            7.0,
            SANS,
            false,
            "#888",
            Anchor::End,
            &format!("page {n}"),
        );
        self.done.push(page.finish());
        self.y = MARGIN;
    }

    pub(super) fn heading(&mut self, s: &str) {
        // A heading keeps a few lines of what it heads on its page.
        self.ensure(72.0);
        self.y += 8.0;
        self.cur.text_styled(
            MARGIN,
            self.y + 12.0,
            13.0,
            SANS,
            true,
            "#111",
            Anchor::Start,
            s,
        );
        self.y += 20.0;
    }

    pub(super) fn para(&mut self, s: &str, size: f64, color: &str) {
        let lines = svg::wrap(s, ((PAGE_W - 2.0 * MARGIN) / (size * 0.5)) as usize).len();
        self.ensure(lines as f64 * size * 1.35 + 2.0);
        self.y = self
            .cur
            .paragraph(MARGIN, self.y + size, PAGE_W - 2.0 * MARGIN, size, color, s)
            - size
            + 2.0;
    }

    /// Label: value rows.
    pub(super) fn facts(&mut self, rows: &[(String, String)]) {
        for (k, v) in rows {
            let lines = svg::wrap(v, 88);
            self.ensure(lines.len() as f64 * 11.0);
            self.cur.text_styled(
                MARGIN,
                self.y + 9.0,
                8.0,
                SANS,
                true,
                "#333",
                Anchor::Start,
                k,
            );
            for (i, l) in lines.iter().enumerate() {
                self.cur.text_styled(
                    MARGIN + 110.0,
                    self.y + 9.0 + i as f64 * 10.5,
                    8.0,
                    SANS,
                    false,
                    "#222",
                    Anchor::Start,
                    l,
                );
            }
            self.y += lines.len().max(1) as f64 * 10.5 + 1.0;
        }
    }

    /// A monospaced table: header, then rows.
    pub(super) fn table(&mut self, header: &str, rows: &[(String, Option<String>)], size: f64) {
        self.ensure(size * 3.0);
        self.cur.text_styled(
            MARGIN,
            self.y + size,
            size,
            MONO,
            true,
            "#111",
            Anchor::Start,
            header,
        );
        self.y += size * 1.5;
        for (row, color) in rows {
            self.ensure(size * 1.4);
            self.cur.text_styled(
                MARGIN,
                self.y + size,
                size,
                MONO,
                false,
                color.as_deref().unwrap_or("#222"),
                Anchor::Start,
                row,
            );
            self.y += size * 1.35;
        }
        self.y += 4.0;
    }

    pub(super) fn chart(&mut self, height: f64, draw: impl FnOnce(&mut Svg, (f64, f64, f64, f64))) {
        self.ensure(height);
        draw(
            &mut self.cur,
            (MARGIN, self.y, PAGE_W - 2.0 * MARGIN, height),
        );
        self.y += height + 6.0;
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        self.break_page();
        self.done
    }
}
