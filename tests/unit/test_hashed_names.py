"""The Lambda's idea of a hashed name is Django's: ManifestStaticFilesStorage's own hashed_name."""

from __future__ import annotations

from django.contrib.staticfiles.storage import HashedFilesMixin
from django.core.files.base import ContentFile
from hypothesis import given
from hypothesis import strategies as st

from staticsync.model.names import hashed_name

SPECIAL = ["app.min.js", ".htaccess", "LICENSE", "a b.css", "x.tar.gz", "%41.css", "é.css"]
SEGMENT = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="/\\?#"), min_size=1, max_size=8
)
NAMES = st.builds("/".join, st.lists(st.one_of(SEGMENT, st.sampled_from(SPECIAL)), min_size=1, max_size=4))


def django_hashed_name(name: str, content: bytes) -> str:
    return str(HashedFilesMixin().hashed_name(name, ContentFile(content)))


@given(name=NAMES, content=st.binary(max_size=64))
def test_hashed_name_matches_djangos_for_any_name_and_content(name: str, content: bytes) -> None:
    assert hashed_name(name, content) == django_hashed_name(name, content)


def test_the_hash_goes_before_the_last_extension() -> None:
    assert hashed_name("js/app.min.js", b"") == "js/app.min.d41d8cd98f00.js"
