/* robot.js: progressive enhancement for the robot wiki.
 *
 * Plain browser JavaScript: no build step, no dependencies, no inline scripts
 * (it works under `Content-Security-Policy: script-src 'self'`). Loaded with
 * `defer` on every page; every feature checks that its elements exist.
 *
 * Features: theme toggle, mobile sidebar drawer, keyboard shortcuts, confirm
 * prompts, dropdown menus, history "Compare", copy buttons on code blocks,
 * lazy KaTeX / mermaid rendering, {{DataTable}} tables, and the editor's live
 * preview.
 */
(function () {
  'use strict';

  var doc = document;
  var root = doc.documentElement;
  var THEME_KEY = 'robot-theme';

  /* ---- Theme ------------------------------------------------------------ */

  function storedTheme() {
    try { return localStorage.getItem(THEME_KEY); } catch (e) { return null; } // storage blocked
  }

  function applyTheme(theme) {
    if (theme === 'dark' || theme === 'light') root.setAttribute('data-theme', theme);
  }

  function isDark() {
    var t = root.getAttribute('data-theme');
    if (t === 'dark' || t === 'light') return t === 'dark';
    return !!(window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches);
  }

  // Apply the stored choice as early as this deferred script can (again on
  // DOMContentLoaded in init(), in case anything reset it).
  applyTheme(storedTheme());

  function toggleTheme() {
    var next = isDark() ? 'light' : 'dark';
    applyTheme(next);
    try { localStorage.setItem(THEME_KEY, next); } catch (e) { /* private mode */ }
    syncThemeButtons();
    rerenderMermaid();
  }

  function syncThemeButtons() {
    doc.querySelectorAll('.theme-toggle').forEach(function (b) {
      b.setAttribute('aria-pressed', String(isDark()));
    });
  }

  /* ---- Helpers ------------------------------------------------------------ */

  // True when keystrokes belong to a form field or editable region.
  function isTyping(el) {
    return !!el && (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) || el.isContentEditable);
  }

  // Vendor URLs are built from <body data-static>, never hard-coded, and carry the
  // assets' fingerprint (so the browser keeps them until the next release).
  function staticUrl(path) {
    var v = doc.body.dataset.assetVersion;
    return (doc.body.dataset.static || '/static') + path + (v ? '?v=' + v : '');
  }

  // Load a script once; resolves when it has run.
  var scripts = {};
  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise(function (resolve, reject) {
        var s = Object.assign(doc.createElement('script'), { src: src, onload: resolve });
        s.onerror = function () { delete scripts[src]; reject(new Error('could not load ' + src)); };
        doc.head.appendChild(s);
      });
    }
    return scripts[src];
  }

  function loadCss(href) {
    if (doc.querySelector('link[rel="stylesheet"][href="' + href + '"]')) return;
    doc.head.appendChild(Object.assign(doc.createElement('link'), { rel: 'stylesheet', href: href }));
  }

  /* ---- Sidebar drawer (narrow screens) ---------------------------------- */

  function setSidebar(open) {
    doc.body.classList.toggle('sidebar-open', open);
    doc.querySelectorAll('.sidebar-toggle').forEach(function (b) {
      b.setAttribute('aria-expanded', String(open));
    });
  }

  /* ---- Copy buttons on code blocks ---------------------------------------- */

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Fallback for plain-http hosts, where the clipboard API is unavailable.
    return new Promise(function (resolve, reject) {
      var ta = Object.assign(doc.createElement('textarea'), { value: text, readOnly: true });
      ta.style.cssText = 'position:fixed;opacity:0';
      doc.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = doc.execCommand('copy'); } catch (e) { /* unsupported */ }
      ta.remove();
      if (ok) resolve(); else reject(new Error('copy failed'));
    });
  }

  function addCopyButtons(scope) {
    scope.querySelectorAll('pre.code').forEach(function (pre) {
      if (pre.parentNode.classList.contains('code-block')) return;
      var wrap = doc.createElement('div');
      wrap.className = 'code-block';
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(pre);
      var btn = Object.assign(doc.createElement('button'),
        { type: 'button', className: 'copy-btn', textContent: 'Copy' });
      btn.setAttribute('aria-label', 'Copy code to clipboard');
      btn.addEventListener('click', function () {
        var code = pre.querySelector('code') || pre;
        copyText(code.textContent).then(function () { flashLabel(btn, 'Copied!'); },
          function () { flashLabel(btn, 'Failed'); });
      });
      wrap.appendChild(btn);
    });
  }

  function flashLabel(btn, text) {
    btn.textContent = text;
    btn.classList.add('copied');
    clearTimeout(btn._timer);
    btn._timer = setTimeout(function () {
      btn.textContent = 'Copy';
      btn.classList.remove('copied');
    }, 1500);
  }

  /* ---- Math (KaTeX) and diagrams (mermaid), loaded only when needed ------- */

  function renderMath(scope) {
    var els = Array.prototype.filter.call(scope.querySelectorAll('[data-math-style]'),
      function (el) { return !el.hasAttribute('data-math-rendered'); });
    if (!els.length) return;
    loadCss(staticUrl('/vendor/katex/katex.min.css'));
    loadScript(staticUrl('/vendor/katex/katex.min.js')).then(function () {
      els.forEach(function (el) {
        if (el.hasAttribute('data-math-rendered') || !el.isConnected) return;
        window.katex.render(el.textContent, el, {
          displayMode: el.dataset.mathStyle === 'display',
          throwOnError: false
        });
        el.setAttribute('data-math-rendered', '');
      });
    }).catch(function (err) { console.warn('robot: math not rendered:', err); });
  }

  function renderMermaid(scope) {
    var nodes = Array.prototype.filter.call(scope.querySelectorAll('pre.mermaid'),
      function (el) { return !el.hasAttribute('data-processed'); });
    if (!nodes.length) return;
    // Keep the source so a theme change can render the diagram again.
    nodes.forEach(function (el) {
      if (!el.hasAttribute('data-source')) el.setAttribute('data-source', el.textContent);
      // `\n` in a label is a line break in every kind of diagram, as in Otterwiki;
      // Mermaid itself honours it in flowcharts only.
      el.textContent = el.getAttribute('data-source').replace(/\\n/g, '<br>');
    });
    loadScript(staticUrl('/vendor/mermaid/mermaid.min.js')).then(function () {
      window.mermaid.initialize({
        startOnLoad: false, securityLevel: 'strict', theme: isDark() ? 'dark' : 'default',
        // Otterwiki's settings: with the newer defaults, flowcharts with subgraphs never
        // finish laying out.
        layout: 'dagre', look: 'classic'
      });
      nodes = nodes.filter(function (el) { return el.isConnected; });
      if (nodes.length) return window.mermaid.run({ nodes: nodes });
    }).catch(function (err) { console.warn('robot: diagram not rendered:', err); });
  }

  function rerenderMermaid() {
    if (!window.mermaid) return;
    doc.querySelectorAll('pre.mermaid[data-source]').forEach(function (el) {
      el.removeAttribute('data-processed');
      el.textContent = el.getAttribute('data-source');
    });
    renderMermaid(doc);
  }

  // Everything that decorates rendered Markdown (the page or a preview).
  /* ---- {{DataTable}}: sort, search and pages for a table ------------------- */

  // Options come from the table's data attributes, written by the server.
  function initDataTables(scope) {
    scope.querySelectorAll('table.datatable').forEach(function (table) {
      if (table.dataset.ready) return;
      table.dataset.ready = '1';
      var body = table.tBodies[0];
      if (!body) return;
      var rows = Array.prototype.slice.call(body.rows);
      var perPage = parseInt(table.dataset.perPage, 10) || 25;
      var paging = table.dataset.paging !== 'false';
      var page = 0, query = '';
      var bar = doc.createElement('div');
      bar.className = 'datatable-bar';
      var search = null;
      if (table.dataset.searchable !== 'false') {
        search = doc.createElement('input');
        search.type = 'search';
        search.placeholder = 'Search…';
        search.setAttribute('aria-label', 'Search the table');
        search.addEventListener('input', function () { query = search.value.toLowerCase(); page = 0; draw(); });
        bar.appendChild(search);
      }
      var pager = doc.createElement('span');
      pager.className = 'datatable-pager';
      bar.appendChild(pager);
      table.parentNode.insertBefore(bar, table);
      function draw() {
        var shown = rows.filter(function (r) { return !query || r.textContent.toLowerCase().indexOf(query) >= 0; });
        var pages = paging ? Math.max(1, Math.ceil(shown.length / perPage)) : 1;
        page = Math.min(page, pages - 1);
        rows.forEach(function (r) { r.hidden = true; });
        shown.forEach(function (r, i) {
          r.hidden = paging && (i < page * perPage || i >= (page + 1) * perPage);
          body.appendChild(r);
        });
        pager.textContent = '';
        if (pages > 1) {
          [['‹', page - 1], [(page + 1) + ' / ' + pages, -1], ['›', page + 1]].forEach(function (p) {
            var b = doc.createElement('button');
            b.type = 'button';
            b.textContent = p[0];
            b.disabled = p[1] < 0 || p[1] >= pages;
            b.addEventListener('click', function () { page = p[1]; draw(); });
            pager.appendChild(b);
          });
        }
      }
      if (table.dataset.sortable !== 'false' && table.tHead) {
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
          th.classList.add('sortable');
          th.addEventListener('click', function () {
            var asc = th.getAttribute('aria-sort') !== 'ascending';
            Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute('aria-sort'); });
            th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
            rows.sort(function (a, b) {
              var x = (a.cells[col] || {}).textContent || '', y = (b.cells[col] || {}).textContent || '';
              var nx = parseFloat(x), ny = parseFloat(y);
              var c = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
              return asc ? c : -c;
            });
            draw();
          });
        });
      }
      draw();
    });
  }

  // A page index's switch shows and hides the headings listed under its pages.
  function initHeadingToggles(scope) {
    scope.querySelectorAll('input[data-toggle-headings]').forEach(function (box) {
      var index = box.closest('.pageindex-embedding');
      if (!index || box.dataset.ready) return;
      box.dataset.ready = '1';
      box.addEventListener('change', function () {
        index.querySelectorAll('.pagetoc').forEach(function (t) { t.hidden = !box.checked; });
      });
    });
  }

  function enhance(scope) {
    initDataTables(scope);
    initHeadingToggles(scope);
    addCopyButtons(scope);
    renderMath(scope);
    renderMermaid(scope);
  }

  /* ---- Editor: live preview, tabs, Ctrl/Cmd-S, unsaved-changes warning ---- */

  var editorForm = null;
  var editorSubmitting = false;

  function initEditor() {
    editorForm = doc.querySelector('form.editor');
    var text = doc.getElementById('editor-text');
    var preview = doc.getElementById('editor-preview');
    if (!editorForm || !text) return;
    var initial = text.value;
    var timer = 0;
    var seq = 0;

    var lastPreviewed = null;
    function refresh() {
      if (!preview) return;
      var sent = text.value;
      if (sent === lastPreviewed) return;
      var mine = ++seq;
      var url = location.pathname.replace(/\/edit(\/.*)?$/, '/preview');
      fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8',
          'X-CSRF-Token': doc.body.dataset.csrf || '',
          'Accept': 'application/json'
        },
        body: new URLSearchParams({ content: sent }).toString()
      }).then(function (r) {
        // Previews count against the write-rate limit: when it is reached, wait as told.
        if (r.status === 429) {
          var wait = parseInt(r.headers.get('Retry-After') || '5', 10);
          clearTimeout(timer);
          timer = setTimeout(refresh, Math.max(1, wait) * 1000);
          throw new Error('rate limited; retrying in ' + wait + ' s');
        }
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      }).then(function (data) {
        if (mine !== seq) return;           // a newer request is on its way
        lastPreviewed = sent;
        var notices = (data.notices || []).map(function (n) {
          var d = doc.createElement('div');
          d.className = 'flash flash-error';
          d.textContent = n;
          return d.outerHTML;
        }).join('');
        preview.innerHTML = notices + (data.html || '');
        preview.classList.remove('preview-error');
        enhance(preview);
      }).catch(function (err) {
        if (mine === seq) preview.classList.add('preview-error');
        console.warn('robot: preview failed:', err);
      });
    }

    // Drafts: what is typed is kept on the server (at most every few seconds), so a
    // closed tab or a lost connection loses nothing; saving the page drops it.
    var draftTimer = 0;
    var lastKept = text.value;
    var baseInput = editorForm.querySelector('input[name="base_revision"]');
    function keepDraft() {
      var sent = text.value;
      if (sent === lastKept || editorSubmitting) return;
      fetch('/-/drafts/save', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded;charset=UTF-8',
          'X-CSRF-Token': doc.body.dataset.csrf || ''
        },
        body: new URLSearchParams({
          page: editorForm.dataset.page || '',
          content: sent,
          base_revision: baseInput ? baseInput.value : ''
        }).toString()
      }).then(function (r) {
        if (r.ok) { lastKept = sent; return; }
        // Rate limited or refused: try again later with whatever is typed then.
        draftTimer = setTimeout(keepDraft, 15000);
      }).catch(function (err) { console.warn('robot: draft not kept:', err); });
    }

    text.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 800);
      clearTimeout(draftTimer);
      draftTimer = setTimeout(keepDraft, 5000);
    });
    if (preview && !preview.innerHTML.trim() && text.value.trim()) refresh();

    // Submitting (unless a confirm() cancelled it) disarms the leave warning.
    editorForm.addEventListener('submit', function (e) {
      if (!e.defaultPrevented) editorSubmitting = true;
    });
    window.addEventListener('beforeunload', function (e) {
      if (editorSubmitting || text.value === initial) return;
      e.preventDefault();
      e.returnValue = '';
    });

    // Write / Preview tabs for narrow screens (CSS hides them when wide and
    // shows one pane at a time from .editor-panes[data-tab]).
    var panes = editorForm.querySelector('.editor-panes');
    var tabs = editorForm.querySelector('.editor-tabs');
    if (!panes || !tabs) return;
    function showTab(name) {
      panes.setAttribute('data-tab', name);
      tabs.querySelectorAll('button[data-tab]').forEach(function (b) {
        b.setAttribute('role', 'tab');
        b.setAttribute('aria-selected', String(b.dataset.tab === name));
      });
    }
    tabs.addEventListener('click', function (e) {
      var b = e.target.closest('button[data-tab]');
      if (b) showTab(b.dataset.tab);
    });
    showTab('write');
  }

  function saveEditor() {
    var save = editorForm.querySelector('button.btn-primary, input[type="submit"].btn-primary');
    if (editorForm.requestSubmit) editorForm.requestSubmit(save || undefined);
    else { editorSubmitting = true; editorForm.submit(); }
  }

  /* ---- History: compare two revisions ---------------------------------- */

  function initCompare() {
    doc.querySelectorAll('form[data-diff-base]').forEach(function (form) {
      var btn = form.querySelector('button:not([type]), button[type="submit"], input[type="submit"]');
      if (!btn) {
        btn = Object.assign(doc.createElement('button'),
          { type: 'submit', className: 'btn', textContent: 'Compare' });
        form.appendChild(btn);
      }
      function picked(name) {
        var r = form.querySelector('input[name="' + name + '"]:checked');
        return r ? r.value : '';
      }
      function update() { btn.disabled = !(picked('rev_a') && picked('rev_b')); }
      form.addEventListener('change', update);
      update();
      form.addEventListener('submit', function (e) {
        var a = picked('rev_a');
        var b = picked('rev_b');
        if (!a || !b) return;           // let the server explain
        e.preventDefault();
        location.href = form.dataset.diffBase.replace(/\/$/, '') + '/diff/' +
          encodeURIComponent(a) + '/' + encodeURIComponent(b);
      });
    });
  }

  /* ---- Global event handlers --------------------------------------------- */

  function onKeydown(e) {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === 's' || e.key === 'S') && editorForm) {
      e.preventDefault();
      saveEditor();
      return;
    }
    if (e.key === 'Escape') {
      if (isTyping(doc.activeElement)) doc.activeElement.blur();
      setSidebar(false);
      doc.querySelectorAll('details.menu[open]').forEach(function (d) { d.open = false; });
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || isTyping(e.target)) return;
    if (e.key === 'e' || e.key === 'c') {
      var link = doc.querySelector('a[data-shortcut="' + e.key + '"]');
      if (link) { e.preventDefault(); link.click(); }
    } else if (e.key === '/') {
      var search = doc.getElementById('search-input');
      if (search) { e.preventDefault(); search.focus(); search.select(); }
    }
  }

  function onClick(e) {
    var t = e.target;
    if (t.closest('.theme-toggle')) { e.preventDefault(); toggleTheme(); return; }
    if (t.closest('.sidebar-toggle')) {
      setSidebar(!doc.body.classList.contains('sidebar-open'));
      return;
    }
    // A click outside the open drawer (on the content or backdrop) closes it.
    if (doc.body.classList.contains('sidebar-open') && !t.closest('.sidebar')) setSidebar(false);
    // Close dropdown menus when clicking elsewhere.
    doc.querySelectorAll('details.menu[open]').forEach(function (d) {
      if (!d.contains(t)) d.open = false;
    });
  }

  // Capture phase, so a cancelled confirm stops the submit before others see it.
  function onSubmit(e) {
    var form = e.target;
    var msg = (e.submitter && e.submitter.dataset.confirm) || form.dataset.confirm;
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }

  function init() {
    applyTheme(storedTheme());
    syncThemeButtons();
    doc.addEventListener('keydown', onKeydown);
    doc.addEventListener('click', onClick);
    doc.addEventListener('submit', onSubmit, true);
    initEditor();
    initCompare();
    enhance(doc);
  }

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
