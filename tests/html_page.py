"""The run report's HTML page as a reader sees it, for the unit and the integration tests of the report."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """The parts of the page a reader sees: its text, its SVGs and their shapes, and any script or link."""

    def __init__(self) -> None:
        super().__init__()
        self.text_parts: list[str] = []
        self.svg_classes: list[str] = []
        self.shapes: list[tuple[str, str, dict]] = []  # (svg class, tag, attributes)
        self.external: list[str] = []
        self._svg: str | None = None

    @classmethod
    def of(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "svg":
            self._svg = attributes.get("class", "")
            self.svg_classes.append(self._svg)
        elif self._svg is not None:
            self.shapes.append((self._svg, tag, attributes))
        if tag in ("script", "link", "img", "iframe") or "src" in attributes:
            self.external.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None

    def handle_data(self, data):
        self.text_parts.append(data)

    def count(self, svg: str, tag: str, cls: str) -> int:
        return sum(1 for s, t, a in self.shapes if s == svg and t == tag and a.get("class") == cls)
