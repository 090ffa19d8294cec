"""A small HTML reader for the report tests: sections with their headings and text, images, tables and every
URL-bearing attribute of a rendered page."""
from __future__ import annotations

from html.parser import HTMLParser

SECTIONS = ["answer", "question", "worked-example", "mechanism", "mechanism-tested", "evidence", "reconstructions",
            "replication", "alternatives", "limitations", "reproduce"]


class Page(HTMLParser):
    """Collects sections (with their headings and text), images, tables and every URL-bearing attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, dict] = {}
        self.order: list[str] = []
        self.images: list[str] = []
        self.tables: list[dict] = []
        self.urls: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self._section = None
        self._tbody = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._section = attrs.get("id")
            self.order.append(self._section)
            self.sections[self._section] = {"heading": False, "text": "", "images": 0}
        if tag == "h2" and self._section:
            self.sections[self._section]["heading"] = True
        if tag == "img":
            self.images.append(attrs.get("src") or "")
            if self._section:
                self.sections[self._section]["images"] += 1
        if tag == "table":
            self.tables.append({"rows": 0, "section": self._section})
        if tag == "tbody":
            self._tbody = True
        if tag == "tr" and self._tbody and self.tables:
            self.tables[-1]["rows"] += 1
        for name in ("src", "href", "srcset", "data", "poster", "action", "xlink:href"):
            if attrs.get(name):
                self.urls.append((tag, name, attrs[name]))

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        if tag == "tbody":
            self._tbody = False

    def handle_data(self, data):
        if self._section:
            self.sections[self._section]["text"] += data


def parse(html: str) -> Page:
    """The rendered page, read."""
    page = Page()
    page.feed(html)
    page.close()
    return page
