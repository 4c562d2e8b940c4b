"""The shared bucket vectors (tests/vectors/buckets.json) recomputed with the seed's own Python.

tests/sql/flags.test.sql checks the same file against canary_bucket, canary_buckets and
evaluate_flag, so together they pin the SQL to the formula of seed 000, Story 8.1:

    hash_val = int(hashlib.md5(cliente_id.encode()).hexdigest()[:8], 16)
    bucket = hash_val % 100

This side never calls the database: it is the seed's formula, not ours.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "buckets.json"


def seed_bucket(cliente_id: str) -> int:
    """Seed 000, Story 8.1, `is_in_canary`, verbatim."""
    hash_val = int(hashlib.md5(cliente_id.encode()).hexdigest()[:8], 16)
    bucket = hash_val % 100
    return bucket


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(VECTORS.read_text())


def test_the_file_holds_at_least_1000_distinct_canonical_ids(document):
    ids = [v["cliente_id"] for v in document["vectors"]]
    assert len(ids) >= 1000
    assert len(set(ids)) == len(ids), "duplicate ids in the vector file"
    # The seed hashes the lowercase hyphenated text of the UUID, which is what uuid::text gives.
    not_canonical = [i for i in ids if str(uuid.UUID(i)) != i]
    assert not_canonical == []


def test_the_vectors_cover_every_bucket_with_and_without_salt(document):
    assert document["salt"], "the file must name the salt of its salted buckets"
    assert {v["bucket"] for v in document["vectors"]} == set(range(100))
    assert {v["salted_bucket"] for v in document["vectors"]} == set(range(100))


def test_every_unsalted_bucket_is_the_seed_formula(document):
    wrong = [(v["cliente_id"], v["bucket"], seed_bucket(v["cliente_id"]))
             for v in document["vectors"] if seed_bucket(v["cliente_id"]) != v["bucket"]]
    assert wrong == [], f"{len(wrong)} vectors disagree with the seed (id, file, seed): {wrong[:5]}"


def test_every_salted_bucket_is_the_seed_formula_over_salt_colon_id(document):
    salt = document["salt"]
    wrong = [(v["cliente_id"], v["salted_bucket"], seed_bucket(salt + ":" + v["cliente_id"]))
             for v in document["vectors"] if seed_bucket(salt + ":" + v["cliente_id"]) != v["salted_bucket"]]
    assert wrong == [], f"{len(wrong)} salted vectors disagree with the seed (id, file, seed): {wrong[:5]}"


def test_the_salt_moves_clients_between_buckets(document):
    # Otherwise the salted column would not test anything the unsalted one does not.
    moved = sum(v["bucket"] != v["salted_bucket"] for v in document["vectors"])
    assert moved > len(document["vectors"]) // 2
