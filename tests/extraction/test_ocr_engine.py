"""How the OCR engine is set up: the detector's input, and the setting that caps it."""

from __future__ import annotations

import numpy as np
import pytest

from extraction.pipeline import config

pytest.importorskip("rapidocr")


def detector_input(engine, image: np.ndarray) -> np.ndarray:
    detector = engine._engine.text_det
    return detector.get_preprocess()(image)


@pytest.fixture
def pipeline_config():
    """Restore the pipeline's configuration after a test changes it."""
    before = config.current()
    yield
    config.configure(before)


def rapidocr_input(engine, image: np.ndarray) -> np.ndarray:
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    d = engine._engine.text_det
    return DetPreProcess(d.limit_side_len, d.limit_type, d.mean, d.std)(image)


def test_the_detector_input_is_rapidocrs_own_bit_for_bit(pipeline_config) -> None:
    from extraction.pipeline.ocr import RapidOCREngine

    config.configure(config.PipelineConfig())
    engine = RapidOCREngine()
    rng = np.random.default_rng(7)
    # a receipt-sized page (full size), and a small one rapidocr scales up to 736
    for shape in ((1450, 937, 3), (300, 500, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        ours, theirs = detector_input(engine, image), rapidocr_input(engine, image)
        assert ours.dtype == theirs.dtype == np.float32
        assert np.array_equal(ours, theirs)
    assert detector_input(engine, np.zeros((1450, 937, 3), np.uint8)).shape == (1, 3, 1440, 928)


def test_a_detect_side_caps_the_detector_input_only(pipeline_config) -> None:
    from extraction.pipeline.ocr import RapidOCREngine

    config.configure(config.PipelineConfig(ocr_detect_side=1280))
    engine = RapidOCREngine()
    page = np.zeros((1450, 937, 3), np.uint8)
    assert detector_input(engine, page).shape == (1, 3, 1280, 832)
    # a narrow receipt keeps a short side of 736: text is not shrunk below rapidocr's floor
    narrow = np.zeros((2157, 804, 3), np.uint8)
    assert detector_input(engine, narrow).shape == (1, 3, 1984, 736)
    # a small page is still scaled up as rapidocr does
    small = np.zeros((300, 500, 3), np.uint8)
    assert np.array_equal(detector_input(engine, small), rapidocr_input(engine, small))


def test_the_detect_side_setting_reaches_the_pipeline(settings) -> None:
    settings.EXTRACTION_OCR_DETECT_SIDE = 1280
    assert config.current().ocr_detect_side == 1280
    settings.EXTRACTION_OCR_DETECT_SIDE = 0  # 0: the detector searches the page at full size
    assert config.current().ocr_detect_side is None


def test_a_negative_detect_side_is_a_check_error(settings) -> None:
    from extraction.checks import check_pipeline_settings

    settings.EXTRACTION_OCR_DETECT_SIDE = -1
    errors = [e for e in check_pipeline_settings() if e.id == "extraction.E002"]
    assert len(errors) == 1 and "EXTRACTION_OCR_DETECT_SIDE" in errors[0].msg
    assert "EXTRACTION_OCR_THREADS" not in errors[0].msg


def test_the_recogniser_pads_short_lines_less_than_rapidocr(pipeline_config) -> None:
    from extraction.pipeline.ocr import REC_MIN_WIDTH, RapidOCREngine

    config.configure(config.PipelineConfig())
    recogniser = RapidOCREngine()._engine._load_rec_model()
    assert recogniser.rec_image_shape == [3, 48, REC_MIN_WIDTH] and REC_MIN_WIDTH < 320
    from rapidocr.ch_ppocr_rec import TextRecInput

    shapes = []
    session = recogniser.session

    class Spy:
        def __call__(self, batch):
            shapes.append(batch.shape)
            return session(batch)

        def __getattr__(self, name):
            return getattr(session, name)

    recogniser.session = Spy()
    # a short line (80 x 48 once scaled) is fed 96 pixels wide, not 320
    recogniser(TextRecInput(img=[np.full((24, 40, 3), 255, np.uint8)]))
    assert shapes == [(1, 3, 48, 96)]
