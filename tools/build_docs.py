#!/usr/bin/env python
"""Build the img2brain documentation and report site into `_docs/`.

    python tools/build_docs.py                      # what `make docs` runs
    python tools/build_docs.py --out /tmp/site      # build somewhere else (the browser test does this)
    python tools/build_docs.py --nbs DIR --out OUT  # build a site from another folder of notebooks

Two engines:

* **quarto** — when `quarto` is on PATH (and neither `--nbs` nor `--out` is given) this simply runs nbdev's
  `nbdev_docs`, which renders `nbs/_quarto.yml` the usual nbdev way.
* **nbconvert** (offline; used whenever quarto is missing) — every notebook goes through nbdev's own docs
  processing, i.e. the processors `nbdev_proc_nbs` runs (`nbdev.processors.FilterDefaults`: front matter from the
  `# Title` / `> summary` cell, `show_doc` cells executed and rendered as markdown, `#| hide` and `#| export`
  cells removed, `#| exports` cells kept under an "Exported source" fold, magics removed, backticked names
  linked to their API docs). `nbdev_proc_nbs` itself is not called because it insists on installing quarto
  first; the per-notebook work is the same function it runs (`serve_drv.exec_nb` = `FilterDefaults()(nb)`).
  Then nbconvert's HTML exporter renders each processed notebook with the page template below (the cell
  blocks of nbconvert's `lab` template, a page shell of our own: site title, sidebar from `nbs/sidebar.yml`,
  page title and summary, previous/next links).

Output naming is nbdev's: `01_data.ipynb` -> `data.html`, `07a_cli.ipynb` -> `cli.html`, `index.ipynb` ->
`index.html` (the number prefix and its letters are stripped, as `nbdev.doclinks._nbpath2html` does), so the API
links in `img2brain/_modidx.py` resolve. Absolute links into the published site
(`https://img2brain.github.io/img2brain/...`) are made relative, links to `*.ipynb` become links to their pages.
Figures stay embedded in the pages as `data:` URIs. Notebooks listed in `sidebar.yml` that do not exist yet are
skipped with a warning; notebooks that exist but are not listed are rendered after the listed ones (and appear
in the sidebar under "Other pages"). The site is built in a temporary folder next to the output and swapped in
at the end, so a failed build leaves the previous `_docs/` untouched.

Errors inside a notebook's `show_doc`/import cells (nbdev_docs would stop there) are reported as warnings and the
cell keeps its saved outputs; `--strict` turns them, and broken internal links, into a failed build (exit 1).
"""
from __future__ import annotations

import argparse, copy, html, json, os, posixpath, re, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path
from urllib.parse import urlsplit, unquote

ROOT = Path(__file__).resolve().parents[1]
STATIC_EXTS = {'.css', '.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp', '.ico', '.js', '.pdf', '.txt'}


class BuildError(RuntimeError): pass


def log(msg): print(f"build_docs: {msg}", file=sys.stderr, flush=True)
def warn(msg): print(f"build_docs: WARNING: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# configuration, notebook discovery, sidebar
# ----------------------------------------------------------------------------------------------------------------
def _yaml(path:Path) -> dict:
    import yaml
    if not path.exists(): return {}
    return yaml.safe_load(path.read_text(encoding='utf-8')) or {}

def site_config(nbs:Path) -> dict:
    "Site title, description, url: from `nbs/nbdev.yml` (what quarto reads), falling back to settings.ini."
    from nbdev.config import get_config
    cfg = get_config()
    web = (_yaml(nbs/'nbdev.yml').get('website') or {})
    return dict(title=web.get('title') or cfg.get('title') or cfg.get('lib_name') or 'Documentation',
                description=web.get('description') or cfg.get('description', ''),
                site_url=(web.get('site-url') or f"{cfg.get('doc_host','')}{cfg.get('doc_baseurl','')}").rstrip('/'),
                repo_url=web.get('repo-url') or cfg.get('git_url', ''),
                doc_prefixes=_doc_prefixes(cfg, web))

def _doc_prefixes(cfg, web) -> list[str]:
    "Absolute URL prefixes of the published site: links starting with these are made relative."
    res = set()
    host, base = cfg.get('doc_host', ''), cfg.get('doc_baseurl', '')
    if host: res.add(f"{host.rstrip('/')}/{base.strip('/')}/".replace('//', '/').replace(':/', '://'))
    if web.get('site-url'): res.add(web['site-url'].rstrip('/') + '/')
    return sorted(res, key=len, reverse=True)

def out_name(rel:str) -> str:
    "nbdev's page name: `01_data.ipynb` -> `data.html` (keeps sub-folders)."
    d, f = posixpath.split(rel)
    f = re.sub(r'^\d+[a-zA-Z0-9]*_', '', f.lower())
    return posixpath.join(d, posixpath.splitext(f)[0] + '.html')

def _skip(parts) -> bool: return any(p.startswith(('.', '_')) or p == 'ipynb_checkpoints' for p in parts)

def find_notebooks(nbs:Path) -> list[str]:
    return sorted(p.relative_to(nbs).as_posix() for p in nbs.rglob('*.ipynb') if not _skip(p.relative_to(nbs).parts))

def read_sidebar(nbs:Path, existing:list[str]) -> list:
    """Sidebar entries from `nbs/sidebar.yml`: ('page', rel) | ('link', text, href) | ('section', title, [entries]).
    Missing notebooks are dropped with a warning; existing notebooks not listed go to a final 'Other pages' section."""
    sb = ((_yaml(nbs/'sidebar.yml').get('website') or {}).get('sidebar') or {})
    contents = sb.get('contents') if isinstance(sb, dict) else None
    if contents is None:                               # no sidebar.yml: index first, then every notebook by file name
        contents = sorted(existing, key=lambda r: (r != 'index.ipynb', r))
    seen = set()
    def conv(items):
        res = []
        for it in items or []:
            if isinstance(it, str):
                href = it
                if href.endswith('.ipynb'):
                    if href in existing: res.append(('page', href)); seen.add(href)
                    else: warn(f"{nbs/href} is listed in sidebar.yml but does not exist yet: skipped")
                else: res.append(('link', href, href))
            elif isinstance(it, dict) and 'section' in it:
                sub = conv(it.get('contents'))
                if sub: res.append(('section', str(it['section']), sub))
            elif isinstance(it, dict) and 'href' in it:
                href = str(it['href'])
                if href.endswith('.ipynb'):
                    if href in existing: res.append(('page', href)); seen.add(href)
                    else: warn(f"{nbs/href} is listed in sidebar.yml but does not exist yet: skipped")
                else: res.append(('link', str(it.get('text', href)), href))
            elif isinstance(it, dict) and 'contents' in it: res.extend(conv(it['contents']))
        return res
    entries = conv(contents)
    rest = [p for p in existing if p not in seen]
    if rest: entries.append(('section', 'Other pages', [('page', p) for p in rest]))
    return entries

def _prune(entries, keep:set):
    res = []
    for e in entries:
        if e[0] == 'page' and e[1] not in keep: continue
        if e[0] == 'section':
            sub = _prune(e[2], keep)
            if not sub: continue
            e = ('section', e[1], sub)
        res.append(e)
    return res

def sidebar_pages(entries) -> list[str]:
    res = []
    for e in entries:
        if e[0] == 'page': res.append(e[1])
        elif e[0] == 'section': res.extend(sidebar_pages(e[2]))
    return res


# ----------------------------------------------------------------------------------------------------------------
# nbdev processing (the processors of `nbdev_proc_nbs`)
# ----------------------------------------------------------------------------------------------------------------
def _filter(strict:bool, problems:list):
    from nbdev.processors import FilterDefaults, exec_show_docs

    class exec_show_docs_lenient(exec_show_docs):
        "nbdev's `exec_show_docs`, but an error in one cell is a warning and the cell keeps its saved outputs."
        def __call__(self, cell):
            saved = copy.deepcopy(cell.get('outputs'))
            try: super().__call__(cell)
            except Exception as e:
                if strict: raise
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                cause = getattr(e, '__cause__', None)
                problems.append(f"{self.nb.path_}: {msg} ({type(cause).__name__ if cause else ''}: {str(cause).splitlines()[0] if cause and str(cause) else ''})")
                if hasattr(self, 'k'): self.k.exc = None
                if saved is not None: cell['outputs'] = saved
    exec_show_docs_lenient.__name__ = 'exec_show_docs'

    class Filter(FilterDefaults):
        def base_procs(self):
            return [exec_show_docs_lenient if p is exec_show_docs else p for p in super().base_procs()]
    return Filter()

def process_notebook(path:Path, strict:bool, problems:list):
    "Run nbdev's docs processors on the notebook at `path`; returns the processed notebook (execnb AttrDict)."
    from execnb.nbio import read_nb
    nb = read_nb(path)
    os.environ['IN_TEST'] = '1'                      # as nbdev.serve_drv does
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')           # nbdev's "imports and other code" FAQ warning, deprecations
            _filter(strict, problems)(nb)
    finally: os.environ.pop('IN_TEST', None)
    return nb


# ----------------------------------------------------------------------------------------------------------------
# processed notebook -> nbformat notebook ready for nbconvert
# ----------------------------------------------------------------------------------------------------------------
_re_fm = re.compile(r'^---\s*\n(.*?)\n---\s*$', re.DOTALL)
_re_dir = re.compile(r'^\s*#\|\s*([\w-]+)\s*(?::\s*(.*?))?\s*$')
_re_pandoc_link = re.compile(r'\[([^\]\n]*)\]\(([^)\s]+)\)\{([^}\n]*)\}')
_re_fence_div = re.compile(r'^:::+.*$', re.MULTILINE)

def _pandoc_links(s:str) -> str:
    "`[text](url){target=... style=...}` (pandoc attributes, from nbdev's show_doc) -> a plain HTML link."
    def f(m):
        text, url, attrs = m.groups()
        cls = 'source-link' if text.strip().lower() == 'source' else ''
        tgt = ' target="_blank" rel="noopener"' if 'target=' in attrs else ''
        return f'<a href="{html.escape(url)}" class="{cls}"{tgt}>{html.escape(text)}</a>'
    return _re_pandoc_link.sub(f, s)

def _md_fix(s:str) -> str:
    s = _pandoc_links(s)
    s = _re_fence_div.sub('', s)      # quarto fenced divs (`::: {.callout}`) — keep the content
    return s

def _split_directives(src:str):
    "Leading `#| key: value` lines (added back by nbdev: echo, output, code-fold ...) -> dict, remaining source."
    opts, lines = {}, src.splitlines()
    i = 0
    while i < len(lines):
        m = _re_dir.match(lines[i])
        if not m: break
        opts[m.group(1)] = (m.group(2) or '').strip().strip('"\'')
        i += 1
    rest = [l for l in lines[i:] if not _re_dir.match(l)]   # any directive left further down is not shown either
    return opts, '\n'.join(rest).strip('\n')

def _falsy(v): return str(v).lower() in ('false', 'no', '0')

def to_nbformat(nb, rel:str):
    "Turn a processed notebook into an nbformat v4 node plus page metadata (title, description, output file)."
    import nbformat
    fm, cells = {}, []
    for c in nb.cells:
        src = c.get('source') or ''
        if isinstance(src, list): src = ''.join(src)
        if c.cell_type == 'raw' and not fm and _re_fm.match(src.strip()):
            import yaml
            fm = yaml.safe_load(_re_fm.match(src.strip()).group(1)) or {}
            continue
        if c.cell_type == 'markdown':
            src = _md_fix(src)
            if not src.strip() or src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cell = nbformat.v4.new_markdown_cell(src)
            if c.get('attachments'): cell['attachments'] = c['attachments']
            cells.append(cell); continue
        if c.cell_type == 'raw': continue
        opts, code = _split_directives(src)
        if _falsy(opts.get('include', 'true')): continue
        outs = [] if _falsy(opts.get('output', 'true')) else list(c.get('outputs') or [])
        echo = not _falsy(opts.get('echo', 'true')) and bool(code.strip())
        if not echo and not outs: continue
        cell = nbformat.v4.new_code_cell(code)
        cell.execution_count = None
        cell['outputs'] = [_clean_output(o) for o in outs]
        cell.metadata['site'] = dict(echo=echo, fold='code-fold' in opts,
                                     summary=opts.get('code-summary') or 'Code')
        cells.append(cell)
    node = nbformat.v4.new_notebook(cells=cells)
    node.metadata['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    title = fm.get('title') or Path(rel).stem
    return node, dict(title=str(title), description=str(fm.get('description') or ''),
                      output=posixpath.join(posixpath.dirname(rel), fm['output-file']) if fm.get('output-file') else out_name(rel))

def _clean_output(o):
    import nbformat
    o = nbformat.from_dict(json.loads(json.dumps(o)))
    data = o.get('data')
    if data is not None:
        for k, v in list(data.items()):
            if isinstance(v, list) and not k.endswith('json'): data[k] = ''.join(v)
        if 'text/markdown' in data: data['text/markdown'] = _md_fix(data['text/markdown'])
        o.setdefault('metadata', {})
        if o.output_type == 'execute_result': o.setdefault('execution_count', None)
    if o.output_type == 'stream' and isinstance(o.get('text'), list): o['text'] = ''.join(o['text'])
    return o


# ----------------------------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------------------------
PAGE_TEMPLATE = r"""{%- extends 'base.html.j2' -%}
{%- block header -%}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ resources.page.title | e }}{% if resources.page.title != resources.site.title %} – {{ resources.site.title | e }}{% endif %}</title>
{%- if resources.page.description %}
<meta name="description" content="{{ resources.page.description | e }}">
{%- endif %}
<meta name="generator" content="img2brain tools/build_docs.py (nbdev processors + nbconvert)">
<link rel="stylesheet" href="{{ resources.page.root }}site.css">
{%- if resources.site.has_styles %}
<link rel="stylesheet" href="{{ resources.page.root }}styles.css">
{%- endif %}
{%- if resources.site.mathjax %}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({tex2jax: {inlineMath: [['$','$'], ['\\(','\\)']], displayMath: [['$$','$$'], ['\\[','\\]']],
                              processEscapes: true, processEnvironments: true},
                    "HTML-CSS": {availableFonts: ["TeX"], imageFont: null}, messageStyle: "none"});
</script>
<script src="{{ resources.page.root }}mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"></script>
{%- endif %}
</head>
<body>
<header class="topbar"><a class="site-title" href="{{ resources.page.root }}index.html">{{ resources.site.title | e }}</a>
{%- if resources.site.repo_url %}<a class="repo" href="{{ resources.site.repo_url | e }}">source code</a>{% endif %}</header>
<div class="layout">
<nav class="sidebar" aria-label="Site navigation">
{{ resources.page.nav }}
</nav>
<main class="content">
<header class="page-header">
<h1 class="title">{{ resources.page.title | e }}</h1>
{%- if resources.page.description %}
<p class="description">{{ resources.page.description | e }}</p>
{%- endif %}
</header>
{%- endblock header -%}

{% block input_group -%}
{%- if cell.metadata.site is defined and not cell.metadata.site.echo -%}
{%- elif cell.metadata.site is defined and cell.metadata.site.fold -%}
<details class="code-fold"><summary>{{ cell.metadata.site.summary | e }}</summary>
<div class="input">{{ cell.source | highlight_code(metadata=cell.metadata) }}</div>
</details>
{%- else -%}
<div class="input">{{ cell.source | highlight_code(metadata=cell.metadata) }}</div>
{%- endif -%}
{%- endblock input_group %}

{% block output_group %}
<div class="outputs">
{{ super() }}
</div>
{% endblock output_group %}

{%- block footer -%}
<nav class="pager">
{%- if resources.page.prev %}<a class="prev" href="{{ resources.page.prev.href }}">← {{ resources.page.prev.title | e }}</a>{% else %}<span></span>{% endif %}
{%- if resources.page.next %}<a class="next" href="{{ resources.page.next.href }}">{{ resources.page.next.title | e }} →</a>{% endif %}
</nav>
<footer class="page-footer">Generated from <code>{{ resources.page.source | e }}</code> with nbdev + nbconvert.</footer>
</main>
</div>
</body>
</html>
{%- endblock footer -%}
"""

SITE_CSS = r"""
:root { --side: 17rem; --fg: #212529; --muted: #6c757d; --line: #dee2e6; --accent: #2c6fbb; --code-bg: #f6f8fa; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.6;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.topbar { position: sticky; top: 0; z-index: 10; display: flex; align-items: center; justify-content: space-between;
  height: 3.2rem; padding: 0 1.5rem; background: #2c3e50; }
.topbar a { color: #fff; } .topbar .site-title { font-weight: 600; font-size: 1.25rem; } .topbar .repo { font-size: .9rem; opacity: .85; }
.layout { display: flex; align-items: flex-start; }
.sidebar { position: sticky; top: 3.2rem; flex: 0 0 var(--side); width: var(--side); height: calc(100vh - 3.2rem);
  overflow-y: auto; padding: 1.25rem 1rem 2rem 1.5rem; border-right: 1px solid var(--line); background: #fafbfc; font-size: .95rem; }
.sidebar ul { list-style: none; margin: 0; padding: 0; }
.sidebar li { margin: .1rem 0; }
.sidebar li a { display: block; padding: .2rem .6rem; border-radius: .3rem; color: var(--fg); }
.sidebar li a:hover { background: #eef2f6; text-decoration: none; }
.sidebar li a.active { background: #e1ebf7; color: var(--accent); font-weight: 600; }
.sidebar .section > .section-title { display: block; margin: 1rem 0 .3rem; padding: 0 .6rem; font-size: .78rem; font-weight: 700;
  text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.sidebar .section ul { padding-left: .2rem; }
.content { flex: 1 1 auto; min-width: 0; max-width: 64rem; padding: 1.5rem 2.5rem 3rem; }
.page-header { margin-bottom: 1.5rem; padding-bottom: .8rem; border-bottom: 1px solid var(--line); }
h1.title { margin: .2rem 0 .4rem; font-size: 2.1rem; line-height: 1.2; }
.description { margin: 0; font-size: 1.1rem; color: var(--muted); }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.6rem 0 .6rem; }
h2 { font-size: 1.55rem; } h3 { font-size: 1.25rem; } h4 { font-size: 1.08rem; }
a.anchor-link { visibility: hidden; margin-left: .35rem; font-size: .8em; color: var(--muted); }
h1:hover a.anchor-link, h2:hover a.anchor-link, h3:hover a.anchor-link, h4:hover a.anchor-link { visibility: visible; }
p, ul, ol { margin: .6rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .88em; }
:not(pre) > code { background: var(--code-bg); padding: .1em .3em; border-radius: .25rem; }
pre { margin: 0; overflow-x: auto; font-size: .85rem; line-height: 1.45; }
.input .highlight, .jp-RenderedMarkdown pre, .jp-MarkdownCell pre { background: var(--code-bg); border: 1px solid var(--line);
  border-radius: .35rem; padding: .7rem .9rem; }
.jp-MarkdownCell pre, .jp-RenderedMarkdown pre { margin: .7rem 0; }
.jp-RenderedMarkdown pre code { background: none; padding: 0; }
.jp-Cell { margin-bottom: 1rem; }
.jp-CodeCell .input { margin: .5rem 0 0; }
.outputs { margin: .25rem 0 0; }
.jp-OutputArea-child { margin: .25rem 0; }
.jp-RenderedText pre { padding: .5rem .9rem; border-left: 3px solid var(--line); color: #333; white-space: pre-wrap; }
.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"] pre { border-left-color: #e0a800; background: #fffbea; }
.jp-RenderedImage img, .content img { max-width: 100%; height: auto; }
.jp-RenderedImage { margin: .5rem 0; }
.jp-RenderedHTML, .jp-RenderedMarkdown { overflow-x: auto; }
details.code-fold { margin: .5rem 0; } details.code-fold > summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .35rem .7rem; text-align: left; vertical-align: top; }
thead th, table.dataframe th { background: #f1f3f5; }
tbody tr:nth-child(even) { background: #fafbfc; }
table.dataframe td { text-align: right; }
a.source-link { float: right; font-size: .85rem; }
.jp-RenderedMarkdown p:has(> a.source-link:only-child) { margin: 0; }
.jp-RenderedMarkdown hr { border: 0; border-top: 1px solid var(--line); margin: 2rem 0 .5rem; }
hr { border: 0; border-top: 1px solid var(--line); }
blockquote { margin: .8rem 0; padding: .2rem 1rem; border-left: 4px solid #c9d6e6; color: #495057; background: #f8fafc; }
.pager { display: flex; justify-content: space-between; gap: 1rem; margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line); }
.page-footer { margin-top: 1rem; font-size: .8rem; color: var(--muted); }
@media (max-width: 800px) {
  .layout { display: block; }
  .sidebar { position: static; width: auto; height: auto; border-right: 0; border-bottom: 1px solid var(--line); }
  .content { padding: 1rem; }
}
"""

def nav_html(entries, current:str|None, href_of, title_of) -> str:
    "The sidebar `<ul>`; `href_of(rel)` gives a page's link relative to the current page."
    def items(es):
        out = []
        for e in es:
            if e[0] == 'page':
                cls = ' class="active" aria-current="page"' if e[1] == current else ''
                out.append(f'<li><a href="{html.escape(href_of(e[1]))}"{cls}>{html.escape(title_of(e[1]))}</a></li>')
            elif e[0] == 'link':
                out.append(f'<li><a href="{html.escape(e[2])}">{html.escape(e[1])}</a></li>')
            else:
                out.append(f'<li class="section"><span class="section-title">{html.escape(e[1])}</span><ul>{"".join(items(e[2]))}</ul></li>')
        return out
    return '<ul>' + ''.join(items(entries)) + '</ul>'

def _slug(text:str) -> str:
    "Heading id as pandoc/quarto make it (lowercase; nbdev's API links use these ids)."
    s = re.sub(r'<[^>]+>', '', text)
    s = html.unescape(s).replace('¶', '').strip().lower()
    s = re.sub(r'[^\w\s.\-]', '', s)
    s = re.sub(r'\s+', '-', s)
    s = s.lstrip('0123456789.-_')
    return s or 'section'

_re_heading = re.compile(r'<h([1-6])\s+id="([^"]*)"\s*>(.*?)</h\1>', re.DOTALL)

def fix_headings(page:str) -> str:
    "Give headings quarto-style unique ids and point their ¶ anchors at them."
    used = {}
    def f(m):
        lvl, _, inner = m.groups()
        text = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', '', inner, flags=re.DOTALL)
        base = _slug(text); sid = base; n = used.get(base, 0)
        if n: sid = f'{base}-{n}'
        used[base] = n + 1
        return f'<h{lvl} id="{sid}">{text}<a class="anchor-link" href="#{sid}" aria-label="link to this section">¶</a></h{lvl}>'
    return _re_heading.sub(f, page)

_re_href = re.compile(r'''(\s(?:href|src)=)(["'])(.*?)\2''', re.DOTALL)

def fix_links(page:str, page_out:str, nb_to_out:dict, prefixes:list[str]) -> str:
    "Absolute links into the published site -> relative; `x.ipynb` links -> their `.html` page."
    here = posixpath.dirname(page_out)
    def f(m):
        attr, q, url = m.groups()
        new = url
        for p in prefixes:
            if url.startswith(p):
                new = posixpath.relpath(url[len(p):].split('#')[0] or 'index.html', here or '.')
                if '#' in url: new += '#' + url.split('#', 1)[1]
                break
        parts = urlsplit(new)
        if not parts.scheme and not parts.netloc and parts.path.endswith('.ipynb'):
            target = posixpath.normpath(posixpath.join(here, unquote(parts.path)))
            if target in nb_to_out:
                new = posixpath.relpath(nb_to_out[target], here or '.') + (f'#{parts.fragment}' if parts.fragment else '')
        return f'{attr}{q}{new}{q}'
    return _re_href.sub(f, page)

def make_exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    ex = HTMLExporter(template_name='lab', extra_loaders=[DictLoader({'site_page.html.j2': PAGE_TEMPLATE})])
    ex.template_file = 'site_page.html.j2'
    ex.exclude_input_prompt = True
    ex.exclude_output_prompt = True
    ex.anchor_link_text = '¶'
    return ex

def mathjax_dir() -> Path|None:
    "MathJax 2 as shipped by the `jupyter-server-mathjax` wheel (a dev requirement), so formulas typeset offline."
    try: import jupyter_server_mathjax
    except ImportError: return None
    d = Path(jupyter_server_mathjax.__file__).parent/'static'
    return d if (d/'MathJax.js').exists() else None

def site_css() -> str:
    from pygments.formatters import HtmlFormatter
    return SITE_CSS + '\n/* pygments */\n' + HtmlFormatter(style='default').get_style_defs('.highlight')


# ----------------------------------------------------------------------------------------------------------------
# link check (same rules as tests/test_docs.py, without a browser)
# ----------------------------------------------------------------------------------------------------------------
_re_id = re.compile(r'''\sid=["']([^"']+)["']''')

_re_api_link = re.compile(r'<a href="([^"#:]*\.html)#([^"]+)"><code>')

def fix_api_anchors(site:Path):
    """nbdev links every backticked name of `_modidx.py`, private helpers too (`_read_responses`), but only public
    names get a `show_doc` heading: such links point at the page (no anchor) instead, as they do in effect on a quarto site."""
    ids = {p.resolve(): set(_re_id.findall(p.read_text(encoding='utf-8'))) for p in site.rglob('*.html')}
    for p in site.rglob('*.html'):
        s = p.read_text(encoding='utf-8')
        def f(m):
            target = (p.parent/unquote(m.group(1))).resolve()
            if target in ids and m.group(2) not in ids[target]: return f'<a href="{m.group(1)}"><code>'
            return m.group(0)
        new = _re_api_link.sub(f, s)
        if new != s: p.write_text(new, encoding='utf-8')

def check_links(site:Path) -> list[str]:
    "Internal href/src that point to a missing file or a missing #anchor."
    ids, bad = {}, []
    pages = sorted(site.rglob('*.html'))
    for p in pages: ids[p.resolve()] = set(_re_id.findall(p.read_text(encoding='utf-8')))
    for p in pages:
        for _, _, url in _re_href.findall(p.read_text(encoding='utf-8')):
            u = urlsplit(html.unescape(url))
            if u.scheme or u.netloc or url.startswith(('data:', 'mailto:', 'javascript:')): continue
            target = (p.parent/unquote(u.path)).resolve() if u.path else p.resolve()
            if not target.exists(): bad.append(f"{p.relative_to(site)}: {url} (no such file)"); continue
            if u.fragment and target.suffix == '.html' and u.fragment not in ids.get(target, set()):
                bad.append(f"{p.relative_to(site)}: {url} (no such anchor)")
    return bad


# ----------------------------------------------------------------------------------------------------------------
# build
# ----------------------------------------------------------------------------------------------------------------
def build_site(nbs:Path, out:Path, strict:bool=False) -> dict:
    "Build the offline site from the notebooks in `nbs` into `out` (atomically replaced). Returns a summary."
    nbs, out = nbs.resolve(), out.resolve()
    if not nbs.is_dir(): raise BuildError(f"notebook folder {nbs} does not exist")
    os.environ.setdefault('MPLBACKEND', 'Agg')
    t0 = time.time()
    site = site_config(nbs)
    existing = find_notebooks(nbs)
    if not existing: raise BuildError(f"no notebooks (*.ipynb) in {nbs}")
    entries = read_sidebar(nbs, existing)
    order = sidebar_pages(entries)
    problems = []

    pages = {}                                   # rel -> (nbformat node, meta)
    for rel in order:
        t = time.time()
        try: node, meta = to_nbformat(process_notebook(nbs/rel, strict, problems), rel)
        except Exception as e:
            if strict: raise BuildError(f"processing {nbs/rel} failed: {e}") from e
            warn(f"processing {nbs/rel} with nbdev failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                 "rendering its saved cells without show_doc")
            try:
                from execnb.nbio import read_nb
                node, meta = to_nbformat(_fallback_process(read_nb(nbs/rel)), rel)
            except Exception as e2:       # e.g. a notebook being written right now is not valid JSON yet
                warn(f"cannot read {nbs/rel} ({type(e2).__name__}: {e2}): page skipped"); continue
        pages[rel] = (node, meta)
        log(f"processed {rel} -> {meta['output']} ({time.time()-t:.1f} s)")
    for p in problems: warn(f"show_doc/import cell failed (kept its saved outputs): {p}")

    if not pages: raise BuildError(f"none of the notebooks in {nbs} could be read")
    if len(pages) < len(order):                         # drop unreadable notebooks from the navigation too
        order = [r for r in order if r in pages]
        entries = _prune(entries, set(order))
    nb_to_out = {rel: pages[rel][1]['output'] for rel in order}
    outs = list(nb_to_out.values())
    dup = {o for o in outs if outs.count(o) > 1}
    if dup: raise BuildError(f"two notebooks would be written to the same page(s) {sorted(dup)}: rename one of them")
    if 'index.html' not in outs: warn("no index.ipynb: the site has no index.html")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.tmp-', dir=out.parent))
    try:
        ex = make_exporter()
        (tmp/'site.css').write_text(site_css(), encoding='utf-8')
        has_styles = (nbs/'styles.css').exists()
        mj = mathjax_dir()
        if mj: shutil.copytree(mj, tmp/'mathjax', ignore=shutil.ignore_patterns('localization', '*.md'))
        else: warn("jupyter-server-mathjax is not installed: formulas show as $...$ text (pip install jupyter-server-mathjax)")
        for f in nbs.rglob('*'):                                  # styles.css, images referenced by markdown ...
            r = f.relative_to(nbs)
            if f.is_file() and f.suffix.lower() in STATIC_EXTS and not _skip(r.parts):
                (tmp/r).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, tmp/r)
        for i, rel in enumerate(order):
            t = time.time()
            node, meta = pages[rel]
            page_out = meta['output']; here = posixpath.dirname(page_out) or '.'
            href = lambda r: posixpath.relpath(nb_to_out[r], here)
            title_of = lambda r: pages[r][1]['title']
            nb_link = lambda j: dict(href=href(order[j]), title=title_of(order[j]))
            resources = {'site': dict(title=site['title'], repo_url=site['repo_url'], has_styles=has_styles, mathjax=bool(mj)),
                         'page': dict(title=meta['title'], description=meta['description'], source=f'nbs/{rel}',
                                      root=posixpath.relpath('.', here) + '/' if here != '.' else '',
                                      nav=nav_html(entries, rel, href, title_of),
                                      prev=nb_link(i-1) if i > 0 else None,
                                      next=nb_link(i+1) if i+1 < len(order) else None),
                         'metadata': {'name': meta['title']}}
            body, _ = ex.from_notebook_node(node, resources=resources)
            body = fix_links(fix_headings(body), page_out, nb_to_out, site['doc_prefixes'])
            dest = tmp/page_out
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(body, encoding='utf-8')
            log(f"rendered {page_out} ({len(body)//1024} kB, {time.time()-t:.1f} s)")
        if site['site_url']:
            urls = ''.join(f"  <url><loc>{html.escape(site['site_url'] + '/' + o)}</loc></url>\n" for o in outs)
            (tmp/'sitemap.xml').write_text('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                                           + urls + '</urlset>\n', encoding='utf-8')
        (tmp/'.nojekyll').write_text('')
        fix_api_anchors(tmp)
        bad = check_links(tmp)
        for b in bad: warn(f"broken internal link: {b}")
        if bad and strict: raise BuildError(f"{len(bad)} broken internal link(s)")
        # swap in: the old site stays complete until the new one is ready
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f'.{out.name}.old-', dir=out.parent)); old.rmdir()
            os.replace(out, old)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
        if old: shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True); raise
    summary = dict(out=str(out), pages=outs, missing_warnings=len(problems), broken_links=bad, seconds=round(time.time()-t0, 1))
    log(f"wrote {len(outs)} pages to {out} in {summary['seconds']} s")
    return summary

def _fallback_process(nb):
    "When nbdev's processors fail on a notebook: title/summary front matter and hidden/export cells removed, by hand."
    from nbdev.processors import FrontmatterProc, hide_, rm_export, clean_magics, strip_hidden_metadata, add_links
    from nbdev.process import NBProcessor
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        NBProcessor(nb=nb, procs=[FrontmatterProc, hide_, rm_export, clean_magics, add_links, strip_hidden_metadata]).process()
    return nb

def run_quarto():
    exe = Path(sys.executable).with_name('nbdev_docs')
    cmd = [str(exe) if exe.exists() else 'nbdev_docs']
    log(f"quarto found: running {' '.join(cmd)}")
    return subprocess.run(cmd, cwd=ROOT).returncode

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--nbs', type=Path, default=None, help="folder of notebooks (default: nbs_path of settings.ini)")
    ap.add_argument('--out', type=Path, default=None, help="output folder (default: doc_path of settings.ini, _docs)")
    ap.add_argument('--engine', choices=('auto', 'quarto', 'nbconvert'), default='auto',
                    help="auto: nbdev_docs (quarto) when quarto is on PATH and no --nbs/--out, else nbconvert")
    ap.add_argument('--strict', action='store_true', help="fail on show_doc errors and broken internal links")
    a = ap.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    engine = a.engine
    if engine == 'auto': engine = 'quarto' if shutil.which('quarto') and a.nbs is None and a.out is None else 'nbconvert'
    if engine == 'quarto':
        if a.nbs is not None or a.out is not None: ap.error("--nbs/--out only work with the nbconvert engine")
        return run_quarto()
    from nbdev.config import get_config
    cfg = get_config()
    try: build_site(a.nbs or cfg.nbs_path, a.out or cfg.doc_path, strict=a.strict)
    except BuildError as e:
        print(f"build_docs: ERROR: {e}", file=sys.stderr); return 1
    return 0

if __name__ == '__main__': sys.exit(main())
