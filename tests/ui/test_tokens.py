"""The token store: salted hashes only, constant-time checks, roles, revocation seen by a running server."""

from __future__ import annotations

import json
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docqa.qa.errors import SettingsError
from docqa.ui.tokens import Principal, TokenStore


def test_a_token_is_shown_once_and_stored_only_as_a_salted_hash(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    assert not store
    token, rec = store.create("editor", ["hr"], "alice")
    raw = (tmp_path / "tokens.json").read_text()
    secret = token.rsplit("_", 1)[1]
    assert secret not in raw and token not in raw
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    who = store.verify(token)
    assert who == Principal(rec["id"], "alice", "editor", ("hr",))
    assert who.may("edit") and who.sees("hr") and not who.sees("eng")
    assert rec["collections"] == ["hr"] and "salt" not in rec and "digest" not in rec
    # the same secret with another salt would not verify: two tokens never share a digest
    token2, _ = store.create("reader")
    assert (
        json.loads((tmp_path / "tokens.json").read_text())["tokens"][0]["salt"]
        != json.loads((tmp_path / "tokens.json").read_text())["tokens"][1]["salt"]
    )
    assert store.verify(token2).role == "reader" and not store.verify(token2).may("edit")


def test_wrong_malformed_and_revoked_tokens_are_refused(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    token, rec = store.create("admin", name="root")
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None  # one character off
    assert store.verify("dq_000000000000_" + "x" * 43) is None  # unknown id
    assert store.verify("Bearer " + token) is None and store.verify("") is None
    # a server holding its own store instance sees a revocation made elsewhere (the CLI) at once
    served = TokenStore(tmp_path / "tokens.json")
    assert served.verify(token) is not None
    TokenStore(tmp_path / "tokens.json").revoke("root")
    assert served.verify(token) is None


def test_names_roles_and_collections_are_validated(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    store.create("reader", name="bob")
    with pytest.raises(SettingsError, match="exists already"):
        store.create("editor", name="bob")
    with pytest.raises(SettingsError, match="unknown role"):
        store.create("owner")
    with pytest.raises(SettingsError, match="collection names"):
        store.create("reader", ["../etc"])
    with pytest.raises(SettingsError, match="no token"):
        store.revoke("nobody")
    assert Principal("t", "a", "admin", ("hr",)).sees("eng")  # admin: every collection


def test_a_damaged_token_file_refuses_everyone_instead_of_serving_openly(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    with pytest.raises(SettingsError, match="unreadable token file"):
        bool(TokenStore(path))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_no_made_up_token_verifies(tmp_path_factory, guess):
    store = TokenStore(tmp_path_factory.getbasetemp() / "fuzz-tokens.json")
    if not store:
        store.create("admin", name="fuzz")
    assert store.verify(guess) is None
