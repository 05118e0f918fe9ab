import numpy as np
import pytest
from conftest import run_cli

from poetry_search.encode.encoder import Encoder, resolve_model
from poetry_search.errors import ModelNotFoundError

LINES = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海", "白日依山尽", "君不见黄河之水天上来奔流到海不复回",
         "关关雎鸠", "千山鸟飞绝", "a", "床前明月光疑是地上霜举头望明月低头思故乡"]


def test_vectors_equal_the_reference_method(tiny_model, reference):
    enc = Encoder(tiny_model, precision="fp32", batch_size=3)  # small batches: lengths mixed across them
    got = enc.encode(LINES * 3)
    want = np.stack([reference.one(line) for line in LINES * 3])
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_bf16_stays_close_to_fp32(tiny_model):
    v32 = Encoder(tiny_model, precision="fp32").encode(LINES)
    v16 = Encoder(tiny_model, precision="bf16").encode(LINES)
    assert (v32 * v16).sum(1).min() >= 0.999


def test_saved_sentence_transformers_folder_is_used_as_is(tiny_model, tmp_path, reference):
    enc = Encoder(tiny_model, precision="fp32")
    enc.model.save(str(tmp_path / "st"))
    st = Encoder(str(tmp_path / "st"), precision="fp32")
    assert "Pooling(mean" in st.pooling
    np.testing.assert_allclose(st.encode(LINES), enc.encode(LINES), atol=1e-6)


def test_missing_model_error_names_the_fixes(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError) as e:
        resolve_model("bert-base-chinese")
    msg = str(e.value)
    for fix in ("bert-base-chinese", "HF_ENDPOINT", "--model PATH", "modelscope:"):
        assert fix in msg


def test_not_a_model_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ModelNotFoundError, match="not a model folder"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="no model folder"):
        resolve_model("./no/such/model")


def test_modelscope_without_the_package_says_what_to_install():
    try:
        import modelscope  # noqa: F401
        pytest.skip("modelscope is installed here")
    except ImportError:
        pass
    with pytest.raises(ModelNotFoundError, match=r"poetry-search\[modelscope\]"):
        resolve_model("modelscope:tiansz/bert-base-chinese")


def test_fingerprint_follows_the_weights(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    assert resolve_model(str(copy)).fingerprint == resolve_model(tiny_model).fingerprint
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("\"hidden_act\"", "\"x\": 1, \"hidden_act\""))
    assert resolve_model(str(copy)).fingerprint != resolve_model(tiny_model).fingerprint


def test_cli_model_error_is_one_line(tmp_path):
    r = run_cli("similarity", "春眠不觉晓", "大梦谁先觉", "--model", "bert-base-chinese", env={"HF_HOME": str(tmp_path)})
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("Error: cannot load model bert-base-chinese")
    assert len(r.stderr.strip().splitlines()) == 1


def test_loading_a_model_keeps_the_host_s_transformers_logging(tiny_model):
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_info()
    hf_logging.enable_progress_bar()
    try:
        Encoder(tiny_model, precision="fp32")
        assert hf_logging.get_verbosity() == hf_logging.INFO
        assert hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity_warning()
