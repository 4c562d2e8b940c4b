"""yoyo's post-apply hook: after every apply (yoyo's or `pgcanary migrate`'s), re-apply
functions/ in MANIFEST order and policies/, so editing a function file and migrating updates it.
The statements are listed once, in pgcanary.migrate.code_statements (the bundle prints them)."""

from pathlib import Path

from yoyo import step

from pgcanary.migrate import apply_code

ROOT = Path(__file__).resolve().parent.parent

steps = [step(lambda conn: apply_code(conn, ROOT))]
