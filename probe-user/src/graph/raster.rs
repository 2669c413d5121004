//! PNG text that looks right. plotters 0.3.7 draws ab_glyph text without
//! each glyph's left side bearing, so narrow glyphs ('1', 'i') sit at the
//! left of their cell and leave gaps ("1 50 kbit/s"). [`Raster`] wraps the
//! bitmap backend and places glyphs by their outline bounds; everything
//! else goes straight to the bitmap backend.

use super::FONT;
use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// A bitmap backend with correct glyph placement.
pub struct Raster<'a> {
    inner: BitMapBackend<'a>,
    font: Option<FontRef<'static>>,
}

impl<'a> Raster<'a> {
    pub fn new(inner: BitMapBackend<'a>) -> Raster<'a> {
        Raster {
            inner,
            font: FontRef::try_from_slice(FONT).ok(),
        }
    }
}

type Res<E> = Result<(), DrawingErrorKind<E>>;

impl DrawingBackend for Raster<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }
    fn ensure_prepared(&mut self) -> Res<Self::ErrorType> {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> Res<Self::ErrorType> {
        self.inner.present()
    }
    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> Res<Self::ErrorType> {
        self.inner.draw_pixel(p, c)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Res<Self::ErrorType> {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Res<Self::ErrorType> {
        self.inner.draw_rect(a, b, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Res<Self::ErrorType> {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Res<Self::ErrorType> {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Res<Self::ErrorType> {
        self.inner.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Res<Self::ErrorType> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> Res<Self::ErrorType> {
        let colour = style.color();
        let Some(font) = self.font.clone() else {
            return self.inner.draw_text(text, style, pos);
        };
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let font = font.as_scaled(size);
        // Lay out as plotters measures (advances and kerning), so anchors
        // and label areas agree with its estimates.
        let mut carets = Vec::with_capacity(text.len());
        let mut x = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                x += font.kern(p, id);
            }
            carets.push((id, x));
            x += font.h_advance(id);
            prev = Some(id);
        }
        let width = x as i32;
        let height = (f64::from(size) / 1.24) as i32;
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        // plotters puts the baseline half the font size below the top.
        let baseline = size / 2.0;
        for (id, caret) in carets {
            let glyph = id.with_scale_and_position(font.scale(), point(caret, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|gx, gy, cover| pixels.push((gx, gy, cover)));
            for (gx, gy, cover) in pixels {
                let (px, py) = trans.transform(
                    b.min.x as i32 + gx as i32 + dx,
                    b.min.y as i32 + gy as i32 + dy,
                );
                let (px, py) = (pos.0 + px, pos.1 + py);
                if px >= 0 && px < w as i32 && py >= 0 && py < h as i32 && cover > 0.0 {
                    let c = BackendColor {
                        alpha: colour.alpha * f64::from(cover.min(1.0)),
                        rgb: colour.rgb,
                    };
                    self.inner.draw_pixel((px, py), c)?;
                }
            }
        }
        Ok(())
    }
}
