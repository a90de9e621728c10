//! Turning a detector's output tensor into [`Detection`]s in full-frame pixels.
//!
//! The image was stretched to the model's input size (no letterbox), so a box maps back
//! by one scale per axis.

use super::{BBox, Detection};

/// What every decoder needs besides the tensor.
#[derive(Debug, Clone, Copy)]
pub struct DecodeParams {
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Full-frame pixels per model-input pixel, x and y.
    pub scale_x: f32,
    pub scale_y: f32,
    /// Full-frame size, for clamping.
    pub frame_w: f32,
    pub frame_h: f32,
}

impl DecodeParams {
    fn frame_box(&self, x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox::new(
            (x1 * self.scale_x).clamp(0.0, self.frame_w),
            (y1 * self.scale_y).clamp(0.0, self.frame_h),
            (x2 * self.scale_x).clamp(0.0, self.frame_w),
            (y2 * self.scale_y).clamp(0.0, self.frame_h),
        )
    }
}

/// CenterNet's `[K, 6]` rows (x1, y1, x2, y2, score, class) of one image. The model ran
/// its own peak extraction, so there is no NMS to do.
pub fn centernet(rows: &[f32], p: &DecodeParams, out: &mut Vec<Detection>) {
    for r in rows.chunks_exact(6) {
        let (score, class) = (r[4], r[5]);
        // NaN scores or classes fail these comparisons and are skipped.
        if score.is_nan() || score < p.score_threshold || class.is_nan() || class < 0.0 {
            continue;
        }
        let bbox = p.frame_box(r[0], r[1], r[2], r[3]);
        if bbox.area() > 0.0 {
            out.push(Detection { bbox, score, class_id: class as u32 });
        }
    }
}

/// The standard YOLOv8/YOLO11 export of one image: `[4 + C, N]` channel-major, rows
/// cx, cy, w, h then C class scores, for N candidate boxes; per-class NMS after.
pub fn yolo(data: &[f32], classes: usize, p: &DecodeParams, out: &mut Vec<Detection>) {
    let channels = 4 + classes;
    if classes == 0 || !data.len().is_multiple_of(channels) {
        return;
    }
    let n = data.len() / channels;
    let first = out.len();
    for i in 0..n {
        let (mut best, mut best_score) = (0usize, f32::MIN);
        for c in 0..classes {
            let s = data[(4 + c) * n + i];
            if s > best_score {
                best = c;
                best_score = s;
            }
        }
        if best_score.is_nan() || best_score < p.score_threshold {
            continue;
        }
        let (cx, cy, w, h) = (data[i], data[n + i], data[2 * n + i], data[3 * n + i]);
        let bbox = p.frame_box(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0);
        if bbox.area() > 0.0 {
            out.push(Detection { bbox, score: best_score, class_id: best as u32 });
        }
    }
    nms(out, first, p.nms_iou);
}

/// Greedy per-class non-maximum suppression over `dets[first..]`, best score first.
pub fn nms(dets: &mut Vec<Detection>, first: usize, iou: f32) {
    let tail = &mut dets[first..];
    tail.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep = first;
    for i in first..dets.len() {
        let d = dets[i];
        let suppressed = dets[first..keep].iter().any(|k| k.class_id == d.class_id && k.bbox.iou(&d.bbox) > iou);
        if !suppressed {
            dets[keep] = d;
            keep += 1;
        }
    }
    dets.truncate(keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DecodeParams {
        DecodeParams {
            score_threshold: 0.3,
            nms_iou: 0.45,
            scale_x: 1.5,
            scale_y: 1.125,
            frame_w: 768.0,
            frame_h: 576.0,
        }
    }

    #[test]
    fn centernet_scales_thresholds_and_keeps_class() {
        #[rustfmt::skip]
        let rows = [
            100.0, 100.0, 150.0, 250.0, 0.9, 0.0,   // person, kept
            10.0, 10.0, 20.0, 20.0, 0.1, 2.0,       // below threshold
            500.0, 400.0, 600.0, 520.0, 0.5, 2.0,   // car, clamped to the frame
        ];
        let mut out = Vec::new();
        centernet(&rows, &params(), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].class_id, 0);
        assert_eq!(out[0].bbox, BBox::new(150.0, 112.5, 225.0, 281.25));
        assert_eq!(out[1].class_id, 2);
        assert_eq!(out[1].bbox.x2, 768.0);
        assert_eq!(out[1].bbox.y2, 576.0);
    }

    /// Builds a channel-major YOLO tensor from (cx, cy, w, h, class, score) rows.
    fn yolo_tensor(classes: usize, boxes: &[(f32, f32, f32, f32, usize, f32)]) -> Vec<f32> {
        let n = boxes.len();
        let mut t = vec![0.0; (4 + classes) * n];
        for (i, &(cx, cy, w, h, c, s)) in boxes.iter().enumerate() {
            t[i] = cx;
            t[n + i] = cy;
            t[2 * n + i] = w;
            t[3 * n + i] = h;
            t[(4 + c) * n + i] = s;
        }
        t
    }

    #[test]
    fn yolo_decodes_and_suppresses_overlaps_per_class() {
        let t = yolo_tensor(
            3,
            &[
                (100.0, 100.0, 40.0, 80.0, 0, 0.9), // kept
                (102.0, 101.0, 40.0, 80.0, 0, 0.8), // same object, suppressed
                (102.0, 101.0, 40.0, 80.0, 1, 0.7), // other class at same place: kept
                (300.0, 300.0, 50.0, 50.0, 2, 0.2), // below threshold
                (400.0, 200.0, 60.0, 30.0, 2, 0.6), // kept
            ],
        );
        let p = DecodeParams { scale_x: 1.0, scale_y: 1.0, ..params() };
        let mut out = Vec::new();
        yolo(&t, 3, &p, &mut out);
        let mut got: Vec<(u32, f32)> = out.iter().map(|d| (d.class_id, d.score)).collect();
        got.sort_by_key(|a| a.0);
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (2, 0.6)]);
        let person = out.iter().find(|d| d.class_id == 0).unwrap();
        assert_eq!(person.bbox, BBox::new(80.0, 60.0, 120.0, 140.0));
    }

    #[test]
    fn yolo_rejects_a_tensor_of_the_wrong_size() {
        let mut out = Vec::new();
        yolo(&[0.0; 13], 3, &params(), &mut out);
        assert!(out.is_empty());
    }
}
