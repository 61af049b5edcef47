"""Every text parameter of the library passes `check_text`: a lone surrogate is an InputError naming it.

Before, zero-shot labels, hypothesis templates, QA questions and contexts, generation
prompts and similarity pairs reached the tokenizer, which raised ``TypeError``
("TextEncodeInput must be ...") or a Rust panic: "unexpected" in the CLI, 500 in a server.
"""

from __future__ import annotations

import pytest

from nlu_toolkit import Classifier
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.tasks.classify import check_template, parse_labels
from nlu_toolkit.tasks.embed import Embedder, check_pairs, similarity
from nlu_toolkit.tasks.generate import Generator
from nlu_toolkit.tasks.qa import QuestionAnswerer, qa

BAD = "caf\udce9"  # what surrogateescape makes of the latin-1 byte 0xe9
LONE = "\ud800"  # a JSON escape that names half a surrogate pair


# -- zero-shot labels and templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "named"),
    [(f"sports,politics,{BAD}", "label 3 holds an invalid character U\\+DCE9"), (["a", LONE], "label 2 holds")],
)
def test_zero_shot_label_with_a_lone_surrogate_is_an_input_error_naming_it(labels, named, nli_model):
    with pytest.raises(InputError, match=named):
        Classifier(nli_model, labels=labels)


def test_zero_shot_label_that_is_not_a_string_is_an_input_error():
    with pytest.raises(InputError, match="label 2 is not a string but int"):
        parse_labels(["a", 3])


def test_embedding_zero_shot_label_with_a_lone_surrogate(st_model):
    with pytest.raises(InputError, match="label 1 holds"):
        Classifier(st_model, labels=[LONE, "b"])


def test_hypothesis_template_with_a_lone_surrogate_is_an_input_error(nli_model):
    with pytest.raises(InputError, match="hypothesis_template holds an invalid character"):
        Classifier(nli_model, labels="a,b", hypothesis_template="It is {}" + LONE)


@pytest.mark.parametrize("template", ["{} or {}", "About {topic}.", "It is {0.real}", "It is {", "{{}} only"])
def test_hypothesis_template_that_format_cannot_fill_once_is_a_usage_error(template):
    # "{} or {}" raised IndexError and "{topic}" KeyError from str.format: "unexpected" in the CLI.
    with pytest.raises(UsageError, match="hypothesis_template"):
        check_template(template)


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ({"question": "Who" + LONE, "context": "Ada wrote it."}, "the question of record 0 holds"),
        ({"question": "Who wrote it?", "context": "Ada " + BAD}, "the context of record 0 holds"),
    ],
)
def test_qa_question_or_context_with_a_lone_surrogate_is_an_input_error(record, named, qa_model):
    with pytest.raises(InputError, match=named):
        list(QuestionAnswerer(qa_model).predict([record]))


def test_qa_function_question_with_a_lone_surrogate(qa_model):
    with pytest.raises(InputError, match="the question of record 0"):
        qa("Who" + LONE, context="Ada wrote it.", model=qa_model)


def test_qa_record_that_is_not_a_mapping_is_an_input_error(qa_model):
    # r.get(...) on a string raised AttributeError.
    with pytest.raises(InputError, match="record 0 is a str, not a mapping"):
        list(QuestionAnswerer(qa_model).predict(["Who wrote it?"]))


def test_generation_prompt_with_a_lone_surrogate_is_an_input_error(gpt2_model):
    generator = Generator(gpt2_model, max_new_tokens=4)
    with pytest.raises(InputError, match="text 0 holds"):
        list(generator.predict(["Once " + LONE]))
    with pytest.raises(InputError, match="the prompt holds an invalid character"):
        list(generator.stream("Once " + LONE))  # the streaming path had no check


# -- similarity pairs and the embedder -------------------------------------------------------------------------


def test_similarity_pair_with_a_lone_surrogate_is_an_input_error_before_loading():
    # No model is needed: the pairs are checked before the model loads.
    with pytest.raises(InputError, match="text 'b' of pair 1 holds"):
        similarity(["a", "b"], ["c", BAD], model="/nonexistent/model")


def test_similarity_pair_that_is_not_a_string():
    with pytest.raises(InputError, match="text 'a' of pair 0 is a int"):
        check_pairs([1], ["x"])


def test_embedder_encode_refuses_a_lone_surrogate(st_model):
    # encode is the last guard for every text an index query or a server sends.
    with pytest.raises(InputError, match="text 1 holds"):
        Embedder(st_model).encode(["fine", LONE])
