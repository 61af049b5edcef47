"""Fine-tuning and evaluation: data loading (`data`), training (`finetune`), scoring (`evaluate`)."""
