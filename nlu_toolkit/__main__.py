"""``python -m nlu_toolkit`` runs the CLI (``accelerate launch -m nlu_toolkit finetune ...`` needs it)."""

from nlu_toolkit.cli.app import main

if __name__ == "__main__":
    main()
