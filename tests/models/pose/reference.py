"""Per-frame reference: a straightforward transcription of kijai's ComfyUI-WanAnimatePreprocess pipeline.

Transcribed from ``models/onnx_models.py`` (Yolo.postprocess / process_results / forward, ViTPose.forward),
``pose_utils/pose2d_utils.py`` (bbox_from_detector, crop, keypoints_from_heatmaps with unbiased=True) and the
``PoseAndFaceDetection.process`` loop in ``nodes.py`` (one frame per model call, RGB input in [0, 1]).
Used by the parity tests and by scripts/bench_pose.py. Independent of vsenhance on purpose.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime


def box_convert_simple(box, convert_type="xyxy2xywh"):
    if convert_type == "xyxy2xywh":
        return [box[0], box[1], box[2] - box[0], box[3] - box[1]]
    return [box[0], box[1], box[2] + box[0], box[3] + box[1]]


class Yolo:
    def __init__(
        self,
        checkpoint,
        threshold_conf=0.05,
        threshold_multi_persons=0.1,
        threshold_iou=0.5,
        threshold_bbox_shape_ratio=0.4,
        cat_id=(1,),
    ):
        self.session = onnxruntime.InferenceSession(checkpoint, providers=["CPUExecutionProvider"])
        self.input_width = 640
        self.input_height = 640
        self.threshold_multi_persons = threshold_multi_persons
        self.threshold_conf = threshold_conf
        self.threshold_iou = threshold_iou
        self.threshold_bbox_shape_ratio = threshold_bbox_shape_ratio
        self.cat_id = list(cat_id)
        self.select_type = "max"
        self.strict = True

    def postprocess(self, output, shape_raw):
        outputs = np.squeeze(output)
        if len(outputs.shape) == 1:
            outputs = outputs[None]
        # the reference tests output.shape[1] == 84 on the per-image output, which never holds for [84, N];
        # transpose the YOLOv8 layout here so that both layouts can be compared
        if outputs.shape[-1] != 6 and outputs.shape[0] < outputs.shape[1]:
            outputs = np.transpose(outputs)
        x_factor = shape_raw[1] / self.input_width
        y_factor = shape_raw[0] / self.input_height
        if outputs.shape[-1] == 6:
            max_scores = outputs[:, 4]
            classid = outputs[:, -1]
            threshold_conf_masks = max_scores >= self.threshold_conf
            classid_masks = classid[threshold_conf_masks] != 3.14159
            max_scores = max_scores[threshold_conf_masks][classid_masks]
            classid = classid[threshold_conf_masks][classid_masks]
            boxes = outputs[:, :4][threshold_conf_masks][classid_masks]
            boxes[:, [0, 2]] *= x_factor
            boxes[:, [1, 3]] *= y_factor
            boxes[:, 2] = boxes[:, 2] - boxes[:, 0]
            boxes[:, 3] = boxes[:, 3] - boxes[:, 1]
            boxes = boxes.astype(np.int32)
        else:
            classes_scores = outputs[:, 4:]
            max_scores = np.amax(classes_scores, -1)
            threshold_conf_masks = max_scores >= self.threshold_conf
            classid = np.argmax(classes_scores[threshold_conf_masks], -1)
            classid_masks = classid != 3.14159
            max_scores = max_scores[threshold_conf_masks][classid_masks]
            classid = classid[classid_masks]
            xywh = outputs[:, :4][threshold_conf_masks][classid_masks]
            x, y, w, h = xywh[:, 0:1], xywh[:, 1:2], xywh[:, 2:3], xywh[:, 3:4]
            left = (x - w / 2) * x_factor
            top = (y - h / 2) * y_factor
            width = w * x_factor
            height = h * y_factor
            boxes = np.concatenate([left, top, width, height], axis=-1).astype(np.int32)
        boxes = boxes.tolist()
        scores = max_scores.tolist()
        class_ids = classid.tolist()
        indices = cv2.dnn.NMSBoxes(boxes, scores, self.threshold_conf, self.threshold_iou)
        results = []
        for i in indices:
            box = box_convert_simple(boxes[i], "xywh2xyxy")
            results.append(box + [scores[i]] + [class_ids[i]])  # noqa: RUF005 (transcribed)
        return np.array(results)

    def process_results(self, results, shape_raw, single_person=True):
        cat_id = self.cat_id
        person_results = []
        person_count = 0
        if len(results):
            max_idx = -1
            max_bbox_size = shape_raw[0] * shape_raw[1] * -10
            max_bbox_shape = -1
            bboxes = []
            idx_list = []
            for i in range(results.shape[0]):
                bbox = results[i]
                if (bbox[-1] + 1 in cat_id) and (bbox[-2] > self.threshold_conf):
                    idx_list.append(i)
                    bbox_shape = max((bbox[2] - bbox[0]), (bbox[3] - bbox[1]))
                    if bbox_shape > max_bbox_shape:
                        max_bbox_shape = bbox_shape
            results = results[idx_list]
            for i in range(results.shape[0]):
                bbox = results[i]
                bboxes.append(bbox)
                bbox_size = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
                bbox_shape = max((bbox[2] - bbox[0]), (bbox[3] - bbox[1]))
                if bbox_size > max_bbox_size:
                    if (self.strict or max_idx != -1) and bbox_shape < max_bbox_shape * self.threshold_bbox_shape_ratio:
                        continue
                    max_bbox_size = bbox_size
                    max_bbox_shape = bbox_shape
                    max_idx = i
            if max_idx != -1:
                person_count = 1
                person_results.append({"bbox": results[max_idx, :5], "track_id": 0})
            for i in range(results.shape[0]):
                bbox = results[i]
                if (bbox[-1] + 1 in cat_id) and (bbox[-2] > self.threshold_conf):
                    bbox_size = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
                    if i != max_idx and max_bbox_size * self.threshold_multi_persons < bbox_size < max_bbox_size:
                        person_count += 1
                        if not single_person:
                            person_results.append({"bbox": results[i, :5], "track_id": int(person_count - 1)})
            return person_results
        return None

    def __call__(self, img, shape_raw, single_person=True):
        outputs = self.session.run(None, {self.session.get_inputs()[0].name: img})[0]
        person_results = [
            [{"bbox": np.array([0.0, 0.0, 1.0 * shape_raw[i][1], 1.0 * shape_raw[i][0], -1]), "track_id": -1}]
            for i in range(len(outputs))
        ]
        for i in range(len(outputs)):
            result = self.postprocess(outputs[i], shape_raw[i])
            result = self.process_results(result, shape_raw[i], single_person=single_person)
            if result is not None and len(result) != 0:
                person_results[i] = result
        return person_results


def bbox_from_detector(bbox, input_resolution=(256, 192), rescale=1.25):
    crop_h, crop_w = input_resolution
    aspect = crop_h / float(crop_w)
    center = np.array([(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0])
    bbox_w = bbox[2] - bbox[0]
    bbox_h = bbox[3] - bbox[1]
    bbox_size = max(bbox_w * aspect, bbox_h)
    scale = np.array([bbox_size / aspect, bbox_size]) / 200.0
    scale *= rescale
    return center, scale


def get_transform(center, scale, res):
    crop_aspect_ratio = res[0] / float(res[1])
    h = 200 * scale
    w = h / crop_aspect_ratio
    t = np.zeros((3, 3))
    t[0, 0] = float(res[1]) / w
    t[1, 1] = float(res[0]) / h
    t[0, 2] = res[1] * (-float(center[0]) / w + 0.5)
    t[1, 2] = res[0] * (-float(center[1]) / h + 0.5)
    t[2, 2] = 1
    return t


def transform(pt, center, scale, res, invert=0):
    t = get_transform(center, scale, res)
    if invert:
        t = np.linalg.inv(t)
    new_pt = np.array([pt[0] - 1, pt[1] - 1, 1.0]).T
    new_pt = np.dot(t, new_pt)
    return np.array([round(new_pt[0]), round(new_pt[1])], dtype=int) + 1


def crop(img, center, scale, res):
    ul = np.array(transform([1, 1], center, max(scale), res, invert=1)) - 1
    br = np.array(transform([res[1] + 1, res[0] + 1], center, max(scale), res, invert=1)) - 1
    new_shape = [br[1] - ul[1], br[0] - ul[0]]
    if len(img.shape) > 2:
        new_shape += [img.shape[2]]
    new_img = np.zeros(new_shape, dtype=np.float32)
    new_x = max(0, -ul[0]), min(br[0], len(img[0])) - ul[0]
    new_y = max(0, -ul[1]), min(br[1], len(img)) - ul[1]
    old_x = max(0, ul[0]), min(len(img[0]), br[0])
    old_y = max(0, ul[1]), min(len(img), br[1])
    try:  # noqa: SIM105 (transcribed)
        new_img[new_y[0] : new_y[1], new_x[0] : new_x[1]] = img[old_y[0] : old_y[1], old_x[0] : old_x[1]]
    except Exception:
        pass
    new_img = cv2.resize(new_img, (res[1], res[0]))
    return new_img, new_shape, (old_x, old_y), (new_x, new_y)


def _get_max_preds(heatmaps):
    n, k, _, w = heatmaps.shape
    heatmaps_reshaped = heatmaps.reshape((n, k, -1))
    idx = np.argmax(heatmaps_reshaped, 2).reshape((n, k, 1))
    maxvals = np.amax(heatmaps_reshaped, 2).reshape((n, k, 1))
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = preds[:, :, 0] % w
    preds[:, :, 1] = preds[:, :, 1] // w
    preds = np.where(np.tile(maxvals, (1, 1, 2)) > 0.0, preds, -1)
    return preds, maxvals


def _taylor(heatmap, coord):
    h, w = heatmap.shape[:2]
    px, py = int(coord[0]), int(coord[1])
    if 1 < px < w - 2 and 1 < py < h - 2:
        dx = 0.5 * (heatmap[py][px + 1] - heatmap[py][px - 1])
        dy = 0.5 * (heatmap[py + 1][px] - heatmap[py - 1][px])
        dxx = 0.25 * (heatmap[py][px + 2] - 2 * heatmap[py][px] + heatmap[py][px - 2])
        dxy = 0.25 * (
            heatmap[py + 1][px + 1] - heatmap[py - 1][px + 1] - heatmap[py + 1][px - 1] + heatmap[py - 1][px - 1]
        )
        dyy = 0.25 * (heatmap[py + 2 * 1][px] - 2 * heatmap[py][px] + heatmap[py - 2 * 1][px])
        derivative = np.array([[dx], [dy]])
        hessian = np.array([[dxx, dxy], [dxy, dyy]])
        if dxx * dyy - dxy**2 != 0:
            hessianinv = np.linalg.inv(hessian)
            offset = -hessianinv @ derivative
            offset = np.squeeze(np.array(offset.T), axis=0)
            coord += offset
    return coord


def _gaussian_blur(heatmaps, kernel=11):
    border = (kernel - 1) // 2
    batch_size, num_joints, height, width = heatmaps.shape
    for i in range(batch_size):
        for j in range(num_joints):
            origin_max = np.max(heatmaps[i, j])
            dr = np.zeros((height + 2 * border, width + 2 * border), dtype=np.float32)
            dr[border:-border, border:-border] = heatmaps[i, j].copy()
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            heatmaps[i, j] = dr[border:-border, border:-border].copy()
            heatmaps[i, j] *= origin_max / np.max(heatmaps[i, j])
    return heatmaps


def transform_preds(coords, center, scale, output_size):
    scale_x = scale[0] / output_size[0]
    scale_y = scale[1] / output_size[1]
    target_coords = np.ones_like(coords)
    target_coords[:, 0] = coords[:, 0] * scale_x + center[0] - scale[0] * 0.5
    target_coords[:, 1] = coords[:, 1] * scale_y + center[1] - scale[1] * 0.5
    return target_coords


def keypoints_from_heatmaps(heatmaps, center, scale, kernel=11):
    heatmaps = heatmaps.copy()
    n, k, h, w = heatmaps.shape
    preds, maxvals = _get_max_preds(heatmaps)
    heatmaps = np.log(np.maximum(_gaussian_blur(heatmaps, kernel), 1e-10))
    for i in range(n):
        for j in range(k):
            preds[i][j] = _taylor(heatmaps[i][j], preds[i][j])
    for i in range(n):
        preds[i] = transform_preds(preds[i], center[i], scale[i], [w, h])
    return preds, maxvals


class ViTPose:
    def __init__(self, checkpoint):
        self.session = onnxruntime.InferenceSession(checkpoint, providers=["CPUExecutionProvider"])

    def __call__(self, img, center, scale):
        heatmaps = self.session.run([], {self.session.get_inputs()[0].name: img})[0]
        points, prob = keypoints_from_heatmaps(heatmaps=heatmaps, center=center, scale=scale * 200)
        return np.concatenate([points, prob], axis=2)


IMG_NORM_MEAN = np.array([0.485, 0.456, 0.406])
IMG_NORM_STD = np.array([0.229, 0.224, 0.225])


def process(detector: Yolo, pose_model: ViTPose, images_np: np.ndarray):
    """``PoseAndFaceDetection.process`` without retargeting: per-frame detection then per-frame keypoints.

    ``images_np``: (B, H, W, 3) float32 RGB in [0, 1]. Returns (bboxes list of (5,), kp2ds (B, 133, 3)).
    """
    _, h, w, _ = images_np.shape
    shape = np.array([h, w])[None]
    input_resolution = (256, 192)
    rescale = 1.25
    bboxes = []
    for img in images_np:
        bboxes.append(detector(cv2.resize(img, (640, 640)).transpose(2, 0, 1)[None], shape)[0][0]["bbox"])
    kp2ds = []
    for img, bbox in zip(images_np, bboxes, strict=True):
        if bbox is None or bbox[-1] <= 0 or (bbox[2] - bbox[0]) < 10 or (bbox[3] - bbox[1]) < 10:
            bbox = np.array([0, 0, img.shape[1], img.shape[0]])
        center, scale = bbox_from_detector(bbox, input_resolution, rescale=rescale)
        img = crop(img, center, scale, (input_resolution[0], input_resolution[1]))[0]
        img_norm = (img - IMG_NORM_MEAN) / IMG_NORM_STD
        img_norm = img_norm.transpose(2, 0, 1).astype(np.float32)
        keypoints = pose_model(img_norm[None], np.array(center)[None], np.array(scale)[None])
        kp2ds.append(keypoints)
    return bboxes, np.concatenate(kp2ds, 0)
