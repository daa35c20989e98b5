"""Code extraction on realistic completions, and the non-trivial-function measure."""

from __future__ import annotations

from ctrl.extract import extract_code, fenced_blocks, has_nontrivial_function

CHATTY = '''To solve this, we iterate over the list and keep the largest value.

```python
def max_of(xs):
    best = xs[0]
    for x in xs[1:]:
        if x > best:
            best = x
    return best
```

You can test it like this:

```python
print(max_of([3, 1, 4]))
```
'''


def test_prefers_last_python_block_defining_the_entry_point():
    ex = extract_code(CHATTY, "max_of")
    assert ex.code_found and ex.method == "fenced_entry"
    assert ex.code.startswith("def max_of(xs):") and "print" not in ex.code


def test_revised_answer_with_two_definitions_takes_the_last():
    text = ("First try:\n```python\ndef f(n):\n    return n\n```\nWait, that is wrong. "
            "Fixed:\n```python\ndef f(n):\n    return n * 2\n```\nExample:\n```python\nf(2)\n```")
    assert extract_code(text, "f").code == "def f(n):\n    return n * 2"


def test_stdin_program_without_def_takes_last_python_block():
    text = ("Read n, print its square.\n```python\nn = int(input())\nprint(n * n)\n```\n"
            "Input:\n```\n3\n```")
    ex = extract_code(text)
    assert ex.method == "fenced_python" and ex.code == "n = int(input())\nprint(n * n)"


def test_other_language_block_is_last_resort_and_unlabelled_counts_as_python():
    ex = extract_code("```\nx = 1\n```")
    assert ex.method == "fenced_unlabelled" and ex.code == "x = 1"
    ex = extract_code("Output:\n```text\n42\n```")
    assert ex.method == "fenced_other" and ex.code == "42"


def test_unclosed_fence_from_a_truncated_sample_is_kept():
    ex = extract_code("Here:\n```python\ndef f(a):\n    total = 0\n    for x in a:", "f")
    assert ex.code_found and ex.code.endswith("for x in a:")


def test_bare_code_is_accepted_only_when_it_parses_as_code():
    assert extract_code("def g(x):\n    return x + 1\n", "g").method == "bare"
    for prose in ["hello", "The answer is to sort the list first.", "", "   ", "42"]:
        ex = extract_code(prose)
        assert not ex.code_found and ex.code is None and ex.method == "none", prose


def test_fenced_blocks_inline_and_language_tags():
    blocks = fenced_blocks("see ```py\nx = 1\n``` and\n```Python3\ny = 2\n```")
    assert blocks == [("py", "x = 1"), ("python3", "y = 2")]


def test_nontrivial_function_definition():
    trivial = ['def f(x):\n    """Return x."""\n    pass', "def f(x):\n    ...",
               "def f(x):\n    return None", "def f(x):\n    return",
               "def f(x):\n    raise NotImplementedError()", "x = 1", "def f(x:\n  return x",
               None, ""]
    for code in trivial:
        assert not has_nontrivial_function(code), code
    assert has_nontrivial_function("def f(x):\n    '''doc'''\n    return x + 1")
    assert has_nontrivial_function("class A:\n    def m(self):\n        return 1")
    assert not has_nontrivial_function("def g(x):\n    return x + 1", entry_point="f")
