"""Browser tests of the documentation and report site built by `tools/build_docs.py` (`make docs`).

The site is built into a temporary folder (`build_docs.py --out`), served by `http.server` on 127.0.0.1 and
visited with Debian's headless Chromium through selenium (`make browser-deps` installs `chromium` and
`chromium-driver`; nothing is downloaded). Two sites:

* the real one, from `nbs/` — navigation, titles, links, API reference, the report's figures;
* a tiny one, written here from scratch with nbformat (a notebook with a saved PNG output, an image file, a
  hidden cell ...), so the figure path is tested whatever state the real notebooks are in.
"""
import base64, functools, http.server, io, os, shutil, subprocess, sys, tempfile, threading, time
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urldefrag
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT/'tools'/'build_docs.py'
CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--window-size=1400,1000']


# ---------------------------------------------------------------------------------------------------- helpers
def build(out, nbs=None, extra=()):
    cmd = [sys.executable, str(BUILD), '--engine', 'nbconvert', '--out', str(out), *extra]
    if nbs is not None: cmd += ['--nbs', str(nbs)]
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)

def build_docs_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('build_docs', BUILD)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@contextmanager
def serve(folder):
    "Serve `folder` on 127.0.0.1 on a free port, in a thread; yields the base URL."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(folder)))
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}/'
    finally: srv.shutdown(); srv.server_close(); t.join(5)

def http_status(url):
    try:
        with urlopen(url, timeout=10) as r: return r.status
    except HTTPError as e: return e.code

JS_IMAGES = """return Array.from(document.images).map(i => ({src: i.currentSrc.slice(0, 80), complete: i.complete,
                                                          w: i.naturalWidth, h: i.naturalHeight}));"""
JS_IDS = "return Array.from(document.querySelectorAll('[id],a[name]')).map(e => e.id || e.getAttribute('name'));"
JS_LINKS = """return Array.from(document.querySelectorAll('a[href],img[src],link[href],script[src]'))
                   .map(e => e.href || e.src).filter(u => u);"""

def wait_loaded(driver, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))

def images_report(driver):
    wait_loaded(driver)
    return driver.execute_script(JS_IMAGES)

def assert_page_titled(driver, expected=None):
    h1 = driver.find_elements('css selector', 'main h1.title')
    assert h1 and h1[0].text.strip(), f"{driver.current_url}: no page title (h1)"
    title = h1[0].text.strip()
    assert title in driver.title, f"{driver.current_url}: <title> {driver.title!r} does not contain the h1 {title!r}"
    if expected is not None: assert title == expected, f"{driver.current_url}: h1 {title!r}, sidebar says {expected!r}"
    return title


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='session')
def browser():
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            pytest.fail(f"{exe} is missing: run `make browser-deps` (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault('SE_OFFLINE', 'true')          # selenium-manager must never try to download a browser
    profile = tempfile.mkdtemp(prefix='img2brain-chromium-')
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f'--user-data-dir={profile}']: opts.add_argument(f)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)

@pytest.fixture(scope='session')
def real_site(tmp_path_factory):
    "The site built from the real notebooks in nbs/, served locally: (folder, base url, build stderr)."
    out = tmp_path_factory.mktemp('real') / '_docs'
    # what the site is built from, captured first: notebooks written while the tests run are not the site's fault
    snapshot['notebooks'] = build_docs_module().find_notebooks(ROOT/'nbs')
    snapshot['modidx'] = (ROOT/'img2brain'/'_modidx.py').read_text()
    r = build(out)
    assert r.returncode == 0, f"build_docs.py failed:\n{r.stdout}\n{r.stderr}"
    with serve(out) as url: yield out, url, r.stderr

snapshot = {}

def _png(w, h, color):
    "A real PNG of w × h pixels drawn with matplotlib."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(w/100, h/100), dpi=100)
    ax = fig.add_axes([0.1, 0.1, 0.8, 0.8]); ax.plot([0, 1, 2], [0, 1, 0.5], color=color)
    buf = io.BytesIO(); fig.savefig(buf, format='png', dpi=100); plt.close(fig)
    return buf.getvalue()

@pytest.fixture(scope='session')
def tiny_site(tmp_path_factory):
    "A site from a tiny notebook folder written here: index, a figure notebook, a sidebar listing a missing notebook."
    import nbformat as nbf
    nbs = tmp_path_factory.mktemp('tiny_nbs')
    idx = nbf.v4.new_notebook(cells=[
        nbf.v4.new_markdown_cell("# Tiny site\n\n> The index of a tiny test site"),     # nbdev: the title cell becomes front matter
        nbf.v4.new_markdown_cell("The figures are in [the figure page](01_figs.ipynb#the-figures)."),
    ])
    png = _png(320, 200, 'tab:red')
    # no import in this cell: nbdev's exec_show_docs re-runs cells holding imports (in notebooks with exports)
    code = nbf.v4.new_code_cell("#| echo: true\nplt.plot([0, 1, 2], [0, 1, 0.5]);")
    code.outputs = [nbf.v4.new_output('display_data', data={'image/png': base64.b64encode(png).decode(),
                                                            'text/plain': '<Figure size 320x200 with 1 Axes>'})]
    table = nbf.v4.new_code_cell("df")
    table.outputs = [nbf.v4.new_output('execute_result', execution_count=3, data={
        'text/plain': '   a  b\n0  1  2', 'text/html': '<table class="dataframe"><thead><tr><th></th><th>a</th><th>b</th></tr></thead>'
                                         '<tbody><tr><th>0</th><td>1</td><td>2</td></tr></tbody></table>'})]
    figs = nbf.v4.new_notebook(cells=[
        nbf.v4.new_markdown_cell("# Figures\n\n> A notebook whose saved outputs hold a figure"),
        nbf.v4.new_code_cell("#| hide\nTHIS_CELL_IS_HIDDEN = 1"),
        nbf.v4.new_markdown_cell("## The figures\n\nA saved matplotlib output, then a PNG file next to the notebook:\n\n"
                                 "![a picture](images/picture.png)\n\nBack to [the index](index.ipynb)."),
        nbf.v4.new_markdown_cell("The score of a vertex is $100 \\cdot r^2 / \\mathrm{NC}$, and in display form\n\n"
                                 "$$\\hat\\beta = (X^\\top X + \\alpha I)^{-1} X^\\top y.$$"),
        nbf.v4.new_code_cell("import matplotlib.pyplot as plt"),
        nbf.v4.new_code_cell("#| export\ndef exported_fn(x:int=1, # how many\n                ) -> int: # twice as many\n    'Double `x`.'\n    return 2 * x"),
        nbf.v4.new_code_cell("#| exports\ndef shown_fn(): return 'SHOWN_SOURCE'"),
        code, table,
    ])
    nbf.write(idx, nbs/'index.ipynb'); nbf.write(figs, nbs/'01_figs.ipynb')
    (nbs/'images').mkdir(); (nbs/'images'/'picture.png').write_bytes(_png(150, 100, 'tab:blue'))
    (nbs/'styles.css').write_text('.cell { margin-bottom: 1rem; }\n')
    (nbs/'sidebar.yml').write_text("website:\n  sidebar:\n    contents:\n      - index.ipynb\n"
                                   "      - section: Pages\n        contents:\n          - 01_figs.ipynb\n          - 02_missing.ipynb\n")
    out = tmp_path_factory.mktemp('tiny') / 'site'
    r = build(out, nbs)
    assert r.returncode == 0, f"build_docs.py failed:\n{r.stdout}\n{r.stderr}"
    with serve(out) as url: yield out, url, r.stderr


# ---------------------------------------------------------------------------------------------------- tiny site
def test_tiny_site_pages_and_names(tiny_site):
    out, url, log = tiny_site
    assert (out/'index.html').exists() and (out/'figs.html').exists()      # 01_figs.ipynb -> figs.html (nbdev's naming)
    assert (out/'site.css').exists() and (out/'styles.css').exists() and (out/'images'/'picture.png').exists()
    assert '02_missing.ipynb is listed in sidebar.yml but does not exist yet: skipped' in log
    assert not list(out.parent.glob('.site.tmp-*')), "temporary build folder left behind"

def test_tiny_site_figure_loads(tiny_site, browser):
    out, url, _ = tiny_site
    browser.get(url + 'figs.html')
    assert_page_titled(browser, 'Figures')
    assert 'A notebook whose saved outputs hold a figure' in browser.find_element('css selector', 'p.description').text
    imgs = images_report(browser)
    assert len(imgs) == 2, imgs
    for i in imgs: assert i['complete'] and i['w'] > 0 and i['h'] > 0, f"image not loaded: {i}"
    assert sorted((i['w'], i['h']) for i in imgs) == [(150, 100), (320, 200)]
    text = browser.find_element('tag name', 'body').text
    assert 'THIS_CELL_IS_HIDDEN' not in text, "a #| hide cell is shown"
    assert '#|' not in text, "cell directives are shown"
    assert 'plt.plot' in text                                            # ordinary code is shown ...
    assert browser.find_elements('css selector', 'table.dataframe td')   # ... and HTML tables survive
    # `#| export` source is hidden and documented by show_doc (as nbdev does); `#| exports` source sits in a fold
    assert 'return 2 * x' not in browser.page_source
    assert browser.find_element('id', 'exported_fn').tag_name in ('h2', 'h3', 'h4')
    assert 'Double' in text and 'twice as many' in text
    assert browser.find_element('id', 'shown_fn')
    fold = browser.find_element('css selector', 'details.code-fold')
    assert fold.find_element('tag name', 'summary').text == 'Exported source'
    assert 'SHOWN_SOURCE' in fold.get_attribute('textContent')

def test_tiny_site_math_is_typeset_offline(tiny_site, browser):
    "Formulas are typeset by the MathJax copied into the site (no network): no raw `$...$` text is left."
    out, url, _ = tiny_site
    assert (out/'mathjax'/'MathJax.js').exists(), "MathJax was not copied into the site (pip install jupyter-server-mathjax)"
    browser.get(url + 'figs.html')
    n = 0
    for _ in range(100):                                   # MathJax typesets asynchronously after load
        n = browser.execute_script("return document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length")
        if n >= 2: break
        time.sleep(0.1)
    assert n >= 2, f"{n} typeset formulas on the page (expected 2)"
    text = browser.find_element('tag name', 'body').text
    assert '$100' not in text and '\\hat' not in text, "a formula is shown as raw TeX"

def test_tiny_site_navigation(tiny_site, browser):
    out, url, _ = tiny_site
    browser.get(url)
    nav = [(a.text, a.get_attribute('href')) for a in browser.find_elements('css selector', 'nav.sidebar a')]
    assert [t for t, _ in nav] == ['Tiny site', 'Figures'], nav
    sections = [s.text for s in browser.find_elements('css selector', 'nav.sidebar .section-title')]
    assert sections == ['PAGES'] or sections == ['Pages'], sections
    # a link to `01_figs.ipynb#the-figures` in markdown became a link to the page's anchor
    link = browser.find_element('link text', 'the figure page')
    assert link.get_attribute('href') == url + 'figs.html#the-figures'
    link.click(); wait_loaded(browser)
    assert browser.current_url == url + 'figs.html#the-figures'
    assert 'the-figures' in browser.execute_script(JS_IDS)

def test_failed_build_keeps_old_site(tmp_path):
    out = tmp_path/'site'; out.mkdir(); (out/'index.html').write_text('old site')
    empty = tmp_path/'empty_nbs'; empty.mkdir()
    r = build(out, empty)
    assert r.returncode == 1 and 'no notebooks' in r.stderr, r.stderr
    assert (out/'index.html').read_text() == 'old site'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['empty_nbs', 'site']


# ---------------------------------------------------------------------------------------------------- real site
def _sidebar(driver):
    return [(a.text.strip(), a.get_attribute('href')) for a in driver.find_elements('css selector', 'nav.sidebar a')]

def test_index_and_every_navigation_link(real_site, browser):
    out, url, _ = real_site
    browser.get(url)
    assert_page_titled(browser)
    assert browser.find_element('css selector', '.topbar .site-title').text == 'img2brain'
    nav = _sidebar(browser)
    assert len(nav) >= 2 and nav[0][1] == url + 'index.html', nav
    # every notebook in nbs/ is a page of the site and has a sidebar link
    bd = build_docs_module()
    expected = {url + bd.out_name(rel) for rel in snapshot['notebooks']}
    assert expected <= {h for _, h in nav}, f"pages missing from the sidebar: {expected - {h for _, h in nav}}"
    for i, (text, href) in enumerate(nav):
        browser.get(url)
        link = browser.find_elements('css selector', 'nav.sidebar a')[i]
        assert link.get_attribute('href') == href
        link.click(); wait_loaded(browser)
        assert browser.current_url == href
        assert http_status(href) == 200
        assert_page_titled(browser, expected=text)
        assert _sidebar(browser) == nav, f"{href}: the sidebar differs from the index's"
        active = browser.find_elements('css selector', 'nav.sidebar a.active')
        assert [a.get_attribute('href') for a in active] == [href]

def test_no_broken_internal_links(real_site, browser):
    out, url, _ = real_site
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob('*.html'))
    ids, status, bad = {}, {}, []
    def page_ids(page_url):
        if page_url not in ids:
            browser.get(page_url); wait_loaded(browser); ids[page_url] = set(browser.execute_script(JS_IDS))
        return ids[page_url]
    links = {}
    for p in pages:
        browser.get(url + p); wait_loaded(browser)
        ids[url + p] = set(browser.execute_script(JS_IDS))
        links[p] = browser.execute_script(JS_LINKS)
    n = 0
    for p, hrefs in links.items():
        for h in hrefs:
            if not h.startswith(url): continue                       # external (github source links ...) or data: URIs
            n += 1
            target, frag = urldefrag(h)
            if target not in status: status[target] = http_status(target)
            if status[target] != 200: bad.append(f"{p}: {h} -> HTTP {status[target]}"); continue
            if frag and target.endswith('.html') and frag not in page_ids(target):
                bad.append(f"{p}: {h} -> no element with id {frag!r}")
    assert n > 0
    assert not bad, "broken internal links:\n" + '\n'.join(bad)

def test_api_reference_of_every_module(real_site, browser):
    "Each public top-level symbol of every module (from img2brain/_modidx.py) has its show_doc entry on its page."
    out, url, _ = real_site
    ns = {}; exec(snapshot['modidx'], ns)           # img2brain/_modidx.py as it was when the site was built
    missing, checked, headings = [], 0, {}
    for mod, syms in ns['d']['syms'].items():
        for name, (doc, _) in syms.items():
            short = name[len(mod)+1:]
            if short.startswith('_') or '.' in short: continue       # private helpers and methods: no own entry
            page, anchor = doc.split('#')
            if not (out/page).exists(): missing.append(f"{name}: page {page} not built"); continue
            if page not in headings:
                browser.get(url + page); wait_loaded(browser)
                headings[page] = set(browser.execute_script(
                    "return Array.from(document.querySelectorAll('h2[id],h3[id],h4[id]')).map(e => e.id);"))
            checked += 1
            if anchor not in headings[page]: missing.append(f"{name}: no heading #{anchor} on {page}")
    assert checked > 0, "no module symbols in img2brain/_modidx.py"
    assert not missing, "API reference incomplete:\n" + '\n'.join(missing)

def test_report_page_shows_its_figures(real_site, browser):
    out, url, _ = real_site
    if not (ROOT/'nbs'/'08_report.ipynb').exists():
        pytest.fail("nbs/08_report.ipynb does not exist yet: the report page (report.html) cannot be checked. "
                    "Write the report notebook with its figure outputs saved (CONTRIBUTING.md: execute it, then nbdev_clean).")
    assert (out/'report.html').exists(), "08_report.ipynb was not rendered to report.html"
    browser.get(url + 'report.html')
    assert_page_titled(browser)
    imgs = images_report(browser)
    assert imgs, "the report page shows no figure: save the notebook's outputs (figures) in nbs/08_report.ipynb"
    broken = [i for i in imgs if not (i['complete'] and i['w'] > 0 and i['h'] > 0)]
    assert not broken, f"figures that did not load: {broken}"


# ---------------------------------------------------------------------------------------------------- unit tests
def test_page_names_follow_nbdev():
    bd = build_docs_module()
    assert [bd.out_name(n) for n in ('index.ipynb', '01_data.ipynb', '07a_cli.ipynb', '08_report.ipynb', 'sub/02_x.ipynb')] \
        == ['index.html', 'data.html', 'cli.html', 'report.html', 'sub/x.html']

def test_link_checker_finds_broken_links(tmp_path):
    bd = build_docs_module()
    (tmp_path/'a.html').write_text('<h2 id="here">x</h2><a href="b.html#there">ok</a><a href="b.html#nowhere">bad anchor</a>'
                                   '<a href="c.html">missing page</a><a href="#here">self</a><a href="https://x.org/c.html">ext</a>')
    (tmp_path/'b.html').write_text('<h3 id="there">y</h3>')
    assert bd.check_links(tmp_path) == ['a.html: b.html#nowhere (no such anchor)', 'a.html: c.html (no such file)']
