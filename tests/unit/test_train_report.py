"""`nlu_toolkit.train.report`: per-epoch history, the curve PNG and the model card, from a fake log history."""

from __future__ import annotations

from nlu_toolkit.io.numbers import show_value
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


def test_show_value_shows_numbers_as_what_they_are():
    assert show_value(None) == "" and show_value("fp32", "train_precision") == "fp32" and show_value(True) == "True"
    assert show_value(3) == "3" and show_value(3.0, "best_epoch") == "3" and show_value(12.0, "tp") == "12"
    assert show_value(2.5, "epoch") == "2.5"  # a run cut by max_steps stops inside an epoch
    assert show_value(192.5, "train_seconds") == "192.5" and show_value(10.5839, "train_samples_per_second") == "10.6"
    assert show_value(0.43438, "precision") == "0.4344" and show_value(1.0, "accuracy") == "1.0000"
    assert show_value(5e-05, "eval_loss") == "5e-05"  # not 0.0001: four decimals would change the value
    assert show_value(5e-05, "learning_rate", setting=True) == "5e-05"
    assert show_value(0.01, "weight_decay", setting=True) == "0.01" and show_value(3.0, "epochs", setting=True) == "3"
    assert show_value(float("nan")) == "nan"


def test_model_card_shows_settings_exactly_counts_as_integers_and_seconds_with_one_decimal():
    history = epoch_history(
        [{"loss": 0.5, "epoch": 3.0, "step": 6}, {"eval_loss": 0.4, "eval_precision": 0.43438, "epoch": 3.0, "step": 6}]
    )
    card = model_card(
        task="ner",
        base_model="base/x",
        data={},
        labels=["O", "B-PER"],
        settings={"epochs": 3.0, "learning_rate": 5e-05, "weight_decay": 0.01, "train_precision": "fp32"},
        history=history,
        final=history[-1],
        metric="f1",
        train_seconds=192.5,
        device="cpu",
    )
    assert "- learning rate: 5e-05" in card and "- epochs: 3\n" in card and "- weight decay: 0.01" in card
    assert "- train precision: fp32" in card and "- precision: 0.4344" in card
    assert "in 192.5 s." in card
    assert "| 3 | 0.4000 | 0.4344 | 0.5000 |" in card
