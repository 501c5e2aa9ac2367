"""Normalisation and tokens: the words a message is indexed under, and their keyed hashes."""

from __future__ import annotations

import hashlib

import pytest

from app.search import services
from app.search.services import normalise, text_tokens, word_tokens


def test_lower_case_accents_folded_punctuation_stripped():
    assert normalise("Crème BRÛLÉE, s'il-vous-plaît!!! Ça coûte 12€?") == [
        "creme",
        "brulee",
        "il",
        "vous",
        "plait",
        "ca",
        "coute",
        "12",
    ]


def test_unicode_width_and_ligatures_fold_too():
    assert normalise("ＡＢＣ ﬁsh Straße") == ["abc", "fish", "strasse"]


def test_short_long_stop_and_repeated_words_are_left_out():
    long_word = "x" * (services.MAX_WORD + 1)
    assert normalise(f"a I the order order ORDER {long_word} ok_then") == ["order", "ok", "then"]


@pytest.mark.parametrize("empty", [None, "", "   ", "!!! ... ???", "a the and"])
def test_nothing_searchable(empty):
    assert normalise(empty) == []


def test_non_latin_scripts_are_words():
    assert normalise("Привет мир 你好 مرحبا") == ["привет", "мир", "你好", "مرحبا"]


def test_tokens_are_keyed_truncated_signed_64_bit_integers():
    key = b"k1"
    [token] = word_tokens(["refund"], key)
    assert -(2**63) <= token < 2**63
    assert token != int.from_bytes(hashlib.sha256(b"refund").digest()[:8], "big", signed=True)
    assert word_tokens(["refund"], b"k2") != [token]  # another key, another token
    assert text_tokens("Refund, REFUND; refund!", key) == [token]  # one token per distinct word


def test_same_text_same_tokens_under_the_configured_key(app):
    assert text_tokens("Où est ma commande?") == text_tokens("ou EST ma Commande")
    app_key = app.config["SEARCH_KEY"].encode()
    assert text_tokens("commande") == word_tokens(["commande"], app_key)
