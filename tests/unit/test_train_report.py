"""`nlu_toolkit.train.report`: per-epoch history, the curve PNG and the model card, from a fake log history."""

from __future__ import annotations

from nlu_toolkit.train.report import epoch_history, model_card, plot_training_curve, step_losses

LOG = [
    {"loss": 0.9, "epoch": 0.25, "step": 5},
    {"loss": 0.7, "epoch": 0.5, "step": 10},
    {"loss": 0.5, "epoch": 1.0, "step": 20},
    {"eval_loss": 0.6, "eval_accuracy": 0.7, "eval_runtime": 1.0, "epoch": 1.0, "step": 20},
    {"loss": 0.3, "epoch": 1.5, "step": 30},
    {"eval_loss": 0.4, "eval_accuracy": 0.8, "eval_samples_per_second": 9.0, "epoch": 2.0, "step": 40},
    {"train_runtime": 12.0, "train_loss": 0.6, "epoch": 2.0, "step": 40},
]


def test_epoch_history_groups_losses_and_strips_prefixes():
    history = epoch_history(LOG)
    assert [row["epoch"] for row in history] == [1.0, 2.0]
    assert history[0]["train_loss"] == (0.9 + 0.7 + 0.5) / 3
    assert history[1]["train_loss"] == 0.3
    assert history[0]["accuracy"] == 0.7 and history[1]["eval_loss"] == 0.4
    assert "runtime" not in history[0] and "samples_per_second" not in history[1]
    assert "eval_accuracy" not in history[0]


def test_epoch_history_without_evaluation_still_has_train_loss():
    history = epoch_history([{"loss": 1.0, "epoch": 0.1, "step": 1}, {"loss": 0.5, "epoch": 0.2, "step": 2}])
    assert history == [{"epoch": 1.0, "train_loss": 0.75}]


def test_curve_is_a_png_written_atomically(tmp_path):
    path = plot_training_curve(epoch_history(LOG), step_losses(LOG), "accuracy", tmp_path / "curve.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_model_card_lists_data_settings_and_scores():
    history = epoch_history(LOG)
    card = model_card(
        task="classification",
        base_model="base/x",
        data={"train": "t.csv", "train_rows": 10, "warnings": ["label 'x' is missing from eval"]},
        labels=["neg", "pos"],
        settings={"epochs": 2, "learning_rate": 5e-5, "lora": None},
        history=history,
        final=history[1],
        metric="accuracy",
        train_seconds=12.0,
        device="cpu",
    )
    assert card.startswith("---\nlibrary_name: transformers\nbase_model: base/x")
    assert "nlu classify --model DIR" in card
    assert "- labels (2): neg, pos" in card and "warning: label 'x'" in card
    assert "| epoch | accuracy | eval_loss | train_loss |" in card
    assert "- accuracy: 0.8000" in card
    assert "lora" not in card  # unset settings are left out
