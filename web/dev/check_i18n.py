#!/usr/bin/env python3
"""Checks the console's strings (stdlib only; exit 1 on a problem):

- i18n/id.json and i18n/en.json have the same keys, no empty values, and the
  same {placeholders} per key;
- every key the pages use is defined: data-i18n="k", data-i18n-attr="a:k",
  t('k') in JS; keys built at run time (t(`op.done.${kind}`), label('class', c))
  are matched by their prefix;
- no key is unused;
- the HTML holds no text of its own (every visible string comes from i18n);
- no JS string literal is passed as a child to h() (the DOM helper), where it
  would be shown without a lookup.
Usage: python3 web/dev/check_i18n.py
"""

import json
import os
import re
import sys
from html.parser import HTMLParser

WEB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
problems = []


def load(lang):
    with open(os.path.join(WEB, "i18n", f"{lang}.json"), encoding="utf-8") as f:
        return json.load(f)


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.keys = set()
        self.texts = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-i18n" in a:
            self.keys.add(a["data-i18n"])
        if "data-i18n-attr" in a:
            for pair in a["data-i18n-attr"].split(";"):
                if ":" in pair:
                    self.keys.add(pair.split(":", 1)[1].strip())
        for attr in ("placeholder", "title", "aria-label", "alt"):
            if a.get(attr):
                self.texts.append(f"<{tag} {attr}={a[attr]!r}>")
        if tag not in ("meta", "link", "input", "br", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        if data.strip() and not (self.stack and self.stack[-1] in ("script", "style")):
            self.texts.append(data.strip())


def main():
    ids, ens = load("id"), load("en")
    for k in sorted(set(ids) ^ set(ens)):
        problems.append(f"key only in {'id' if k in ids else 'en'}.json: {k}")
    ph = re.compile(r"\{(\w+)\}")
    for k in sorted(set(ids) & set(ens)):
        if not ids[k].strip() or not ens[k].strip():
            problems.append(f"empty string: {k}")
        if set(ph.findall(ids[k])) != set(ph.findall(ens[k])):
            problems.append(f"placeholders differ: {k}: {ids[k]!r} / {ens[k]!r}")

    used, prefixes = set(), set()
    for name in sorted(os.listdir(WEB)):
        if name.endswith(".html"):
            p = Page()
            with open(os.path.join(WEB, name), encoding="utf-8") as f:
                p.feed(f.read())
            used |= p.keys
            for txt in p.texts:
                problems.append(f"{name}: literal text {txt!r}")
    jsdir = os.path.join(WEB, "js")
    for name in sorted(os.listdir(jsdir)):
        with open(os.path.join(jsdir, name), encoding="utf-8") as f:
            src = f.read()
        used |= set(re.findall(r"\bt\('([^']+)'", src))
        # keys built at run time: `error.${code}`, label('class', name)
        prefixes |= {m + "." for m in re.findall(r"`([a-z_.]+)\.\$\{", src)}
        prefixes |= {m + "." for m in re.findall(r"\blabel\('([a-z_.]+)'", src)}
        # h('tag', attrs, 'literal' ...) or fill(el, 'literal')
        for m in re.finditer(r"\bh\('\w+',\s*(?:null|\{[^{}]*\})\s*,\s*'([^']*[A-Za-z][^']*)'", src):
            problems.append(f"js/{name}: literal child {m.group(1)!r}")
        # keys passed around before the lookup (t(met ? 'a' : 'b'), an okKey argument)
        used |= set(re.findall(r"'((?:[a-z_]+\.)+[a-z_-]+)'", src)) & set(ids)

    for k in sorted(used):
        if k not in ids:
            problems.append(f"used but not defined: {k}")
    for k in sorted(ids):
        if k not in used and not any(k.startswith(p) for p in prefixes):
            problems.append(f"defined but not used: {k}")

    for p in problems:
        print(p)
    print(f"{len(ids)} keys per language, {len(used)} used directly, prefixes {sorted(prefixes)}: "
          f"{'OK' if not problems else f'{len(problems)} problems'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
