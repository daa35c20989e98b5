"""Generator prompts and the revision conversation, rendered through the real default model."""

from __future__ import annotations

import json

import pytest

from ctrl.generation import SamplingParams, load_backend
from ctrl.prompts import FINALIZE_INSTRUCTION, generator_prompt, revision_messages

MBPP_LIKE = {
    "problem_id": "mbpp/11", "statement": "Write a python function to remove first and last "
    "occurrence of a given character from the string.\nYour code should pass this test:\n\n"
    'assert remove_Occ("hello","l") == "heo"',
    "entry_point": "remove_Occ", "starter_code": "", "test_kind": "assert",
    "public_tests": json.dumps({"kind": "assert", "cases": [
        'assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"']}),
    "meta": "{}",
}
STDIN = {
    "problem_id": "apps/1", "statement": "Given n, print the sum 1 + ... + n.",
    "entry_point": "", "starter_code": "", "test_kind": "stdin",
    "public_tests": json.dumps({"kind": "stdin", "cases": [{"input": "3\n", "output": "6\n"}]}),
    "meta": "{}",
}
STARTER = {
    "problem_id": "lcb/1", "statement": "Return the number of vowels in s.",
    "entry_point": "countVowels", "starter_code": "class Solution:\n    def countVowels(self, s)"
    ": str) -> int:\n        ", "test_kind": "call",
    "public_tests": json.dumps({"kind": "call", "entry_point": "countVowels",
                                "cases": [{"args": ["abe"], "expected": 2}]}),
    "meta": "{}",
}


def test_function_prompt_names_entry_point_and_does_not_repeat_examples():
    text = generator_prompt(MBPP_LIKE)[0]["content"]
    assert "`remove_Occ`" in text and "```python code block" in text
    assert text.count('remove_Occ("hello","l")') == 1  # already in the statement
    assert 'remove_Occ("abcda","a")' in text  # the other public test is shown


def test_stdin_and_starter_code_prompts():
    text = generator_prompt(STDIN)[0]["content"]
    assert "standard input" in text and "Example 1 input:\n```\n3\n" in text
    text = generator_prompt(STARTER)[0]["content"]
    assert "Start from this code:\n```python\nclass Solution:" in text
    assert "countVowels('abe') == 2" in text
    with pytest.raises(ValueError, match="empty statement"):
        generator_prompt({**STDIN, "statement": "  "})


def test_revision_conversation_renders_and_generates_on_the_default_model():
    prompt = generator_prompt(MBPP_LIKE)
    answer = "```python\ndef remove_Occ(s, ch):\n    return s\n```"
    msgs = revision_messages(prompt, answer, "The function returns s unchanged.")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == answer and msgs[2]["content"].endswith(FINALIZE_INSTRUCTION)
    assert msgs[0] == prompt[0] and msgs[0] is not prompt[0]
    backend = load_backend("default")
    text = backend.tokenizer.apply_chat_template(msgs, tokenize=False,
                                                 add_generation_prompt=True)
    assert text.count("<|im_start|>") == 4 and answer + "<|im_end|>" in text
    out = backend.generate([msgs], SamplingParams(n=1, max_new_tokens=8))[0][0]
    assert out.prompt_tokens == len(backend.prompt_ids(msgs)) and out.n_tokens > 0
    with pytest.raises(ValueError, match="user turn"):
        revision_messages(msgs[:2], "x", "y")
