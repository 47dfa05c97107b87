"""Seeing attention: bertviz's views on the course's models, offline, and the course's own explorer.

bertviz (Vig, 2019) draws one model's attention as lines between tokens (``head_view``) or as a
grid of every layer and head (``model_view``). It wants a tuple with one ``(1, heads, L, L)``
tensor per layer; ``bertviz_layers`` turns the course's attention into that. Its views load
require.js, d3 and jQuery from a CDN: offline, JupyterLab shows an empty "Layer" dropdown and
"Javascript Error: require is not defined". ``head_view`` and ``model_view`` here inline the
three libraries from local files instead, when they find them (``find_libraries``), so the views
work without a network; where they find none they say so in the output and still return
bertviz's own page.

``explorer_html`` needs no library at all: a self-contained page (plain JavaScript and a canvas)
with a sentence, a layer and a head to choose, or every head of a layer side by side. It works
offline, in JupyterLab, in an exported HTML file and in a plain browser.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from course_utils.checkpoints import shown_path

LIBRARIES = {
    "requirejs": ("requirejs@2.3.6", ("require.min.js", "require.js", "node_modules/requirejs/require.js")),
    "d3": ("d3@5.7.0", ("d3.min.js", "d3.js", "node_modules/d3/dist/d3.min.js")),
    "jquery": ("jquery@2.2.4", ("jquery.min.js", "jquery.js", "node_modules/jquery/dist/jquery.min.js")),
}
"""The JavaScript bertviz needs: for each, its npm package and the file names looked for."""

LIBRARY_FOLDER_VARIABLE = "COURSE_JS_DIR"
"""Environment variable naming the folder with the libraries (default ``~/.cache/course_utils/js``)."""

_CDN_SCRIPT = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"></script>')


def default_library_folder() -> Path:
    return Path(os.environ.get(LIBRARY_FOLDER_VARIABLE, Path.home() / ".cache" / "course_utils" / "js"))


def install_command(folder: Path | None = None) -> str:
    """The one command that puts the libraries where ``find_libraries`` looks (it downloads)."""
    folder = folder or default_library_folder()
    return f"npm install --prefix {shown_path(folder)} " + " ".join(package for package, _ in LIBRARIES.values())


def find_libraries(folder: Path | str | None = None) -> dict[str, Path]:
    """Taught in notebook 08, section 1. ``{name: file}`` for require.js, d3 and jQuery in
    ``folder`` (default ``default_library_folder()``), either as plain files (``d3.min.js``) or
    as npm left them (``node_modules/d3/dist/d3.min.js``). Raises ``FileNotFoundError`` naming
    what is missing and the command that installs it."""
    folder = Path(folder) if folder is not None else default_library_folder()
    found, missing = {}, []
    for name, (package, candidates) in LIBRARIES.items():
        path = next((folder / c for c in candidates if (folder / c).is_file()), None)
        if path is None:
            missing.append(package)
        else:
            found[name] = path
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)} in {shown_path(folder)}; bertviz's views need them offline. "
                                f"Install them once with: {install_command(folder)}")
    return found


def inline_libraries(page: str, libraries: dict[str, Path]) -> str:
    """bertviz's page with its CDN script replaced by the libraries' own code. d3 and jQuery run
    first with no ``define`` in sight (so they become globals, whatever the page already has),
    then require.js, then both are defined as named modules: the view's ``requirejs(['jquery',
    'd3'], ...)`` finds them and loads nothing."""
    def hidden_from_amd(source: str) -> str:  # run a UMD library as a plain script
        return f"(function (define, module, exports) {{\n{source}\n}}).call(window);"

    d3 = libraries["d3"].read_text(encoding="utf-8")
    jquery = libraries["jquery"].read_text(encoding="utf-8")
    requirejs = libraries["requirejs"].read_text(encoding="utf-8")
    bundle = (
        "<script type=\"text/javascript\">\n" + hidden_from_amd(d3) + "\n" + hidden_from_amd(jquery) + "\n</script>\n"
        "<script type=\"text/javascript\">\nif (typeof window.requirejs === 'undefined') {\n" + requirejs + "\n}\n"
        "if (!require.defined('d3')) { define('d3', [], function () { return window.d3; }); }\n"
        "if (!require.defined('jquery')) { define('jquery', [], function () { return window.jQuery; }); }\n"
        "</script>\n"
    )
    if not _CDN_SCRIPT.search(page):
        raise ValueError("this bertviz page has no require.js script tag to replace: is bertviz newer than 1.4?")
    return _CDN_SCRIPT.sub(lambda _: bundle, page, count=1)


def bertviz_layers(attention: Tensor | Sequence[Tensor]) -> tuple[Tensor, ...]:
    """Taught in notebook 08, section 1. bertviz's format: a tuple with one ``(1, heads, L, L)``
    tensor per layer, from ``(layers, heads, L, L)``, from a list of ``(heads, L, L)`` or
    ``(1, heads, L, L)`` tensors (what the course's models return with ``need_weights=True``)."""
    layers = list(attention) if not isinstance(attention, Tensor) else list(attention.unbind(0))
    if not layers:
        raise ValueError("no attention given: expected one tensor per layer")
    out = []
    for index, layer in enumerate(layers):
        layer = layer.detach().float().cpu()
        if layer.dim() == 3:
            layer = layer[None]
        if layer.dim() != 4 or layer.shape[0] != 1:
            raise ValueError(f"layer {index}: expected (heads, L, L) or (1, heads, L, L); got {tuple(layer.shape)}")
        out.append(layer)
    return tuple(out)


def _bertviz_page(view: str, offline: bool, library_folder: Path | str | None, **arguments) -> str:
    import bertviz

    page = getattr(bertviz, view)(html_action="return", **arguments).data
    if not offline:
        return page
    try:
        return inline_libraries(page, find_libraries(library_folder))
    except FileNotFoundError as missing:
        note = (f"<p style='color:#a00'>Offline, this view stays empty: {html_lib.escape(str(missing))} "
                "The course's own explorer (<code>explorer_html</code>) needs none of them.</p>")
        return note + page


def head_view(attention, tokens: Sequence[str] | None = None, sentence_b_start: int | None = None, *,
              offline: bool = True, library_folder: Path | str | None = None, **views):
    """Taught in notebook 08, section 1. bertviz's head view as an ``IPython.display.HTML``, with
    the libraries inlined when ``offline`` (the default). ``attention`` as for ``bertviz_layers``;
    for an encoder-decoder pass ``encoder_attention=``, ``decoder_attention=``,
    ``cross_attention=``, ``encoder_tokens=`` and ``decoder_tokens=`` instead."""
    from IPython.display import HTML

    arguments = _view_arguments(attention, tokens, sentence_b_start, views)
    return HTML(_bertviz_page("head_view", offline, library_folder, **arguments))


def model_view(attention, tokens: Sequence[str] | None = None, sentence_b_start: int | None = None, *,
               offline: bool = True, library_folder: Path | str | None = None, **views):
    """Taught in notebook 08, section 1. bertviz's model view (every layer and head), as
    ``head_view``."""
    from IPython.display import HTML

    arguments = _view_arguments(attention, tokens, sentence_b_start, views)
    return HTML(_bertviz_page("model_view", offline, library_folder, **arguments))


def _view_arguments(attention, tokens, sentence_b_start, views) -> dict:
    arguments = {key: bertviz_layers(value) if key.endswith("_attention") else list(value)
                 for key, value in views.items() if value is not None}
    if attention is not None:
        if tokens is None:
            raise ValueError("tokens are required with attention: one per position")
        arguments.update(attention=bertviz_layers(attention), tokens=list(tokens))
        if sentence_b_start is not None:
            arguments["sentence_b_start"] = int(sentence_b_start)
    elif not arguments:
        raise ValueError("nothing to show: pass attention and tokens, or encoder/decoder/cross attention")
    return arguments


# ---------------------------------------------------------------- the course's own explorer
_EXPLORER_SCRIPT = r"""
(function () {
  const root = document.getElementById(ROOT_ID);
  const data = JSON.parse(root.querySelector("script.explorer-data").textContent);
  const pick = (name) => root.querySelector("select." + name);
  const canvas = root.querySelector("canvas");
  const caption = root.querySelector(".explorer-caption");
  const fill = (select, labels) => { select.innerHTML = labels.map((l, i) => `<option value="${i}">${l}</option>`).join(""); };
  fill(pick("sample"), data.samples.map((s) => s.name));
  fill(pick("layer"), data.samples[0].attention.map((_, i) => "layer " + (i + 1)));
  fill(pick("head"), ["all heads"].concat(data.samples[0].attention[0].map((_, i) => "head " + (i + 1))));
  pick("head").value = "1";
  // viridis, sampled at 0, 0.25, 0.5, 0.75, 1
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const colour = (v) => {
    const x = Math.max(0, Math.min(1, v)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), t = x - i;
    return "rgb(" + stops[i].map((a, k) => Math.round(a + t * (stops[i + 1][k] - a))).join(",") + ")";
  };
  function heatmap(ctx, matrix, tokens, x0, y0, cell, labels, title) {
    const n = tokens.length;
    ctx.fillStyle = "#000"; ctx.font = "12px sans-serif"; ctx.textAlign = "center";
    ctx.fillText(title, x0 + n * cell / 2, y0 - 6);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      ctx.fillStyle = colour(matrix[i][j]); ctx.fillRect(x0 + j * cell, y0 + i * cell, cell, cell);
    }
    if (!labels) return;
    ctx.fillStyle = "#000"; ctx.font = Math.min(12, cell) + "px sans-serif";
    tokens.forEach((t, i) => {
      ctx.textAlign = "right"; ctx.fillText(t, x0 - 4, y0 + (i + 0.75) * cell);
      ctx.save(); ctx.translate(x0 + (i + 0.5) * cell, y0 + n * cell + 4); ctx.rotate(Math.PI / 3);
      ctx.textAlign = "left"; ctx.fillText(t, 0, 4); ctx.restore();
    });
  }
  function draw() {
    const sample = data.samples[+pick("sample").value], layer = +pick("layer").value, head = +pick("head").value;
    const tokens = sample.tokens, n = tokens.length, heads = sample.attention[layer];
    const ctx = canvas.getContext("2d");
    const single = head > 0, cell = single ? Math.max(8, Math.floor(360 / n)) : Math.max(3, Math.floor(150 / n));
    const margin = single ? 80 : 20, size = n * cell;
    const columns = single ? 1 : Math.min(4, heads.length), rows = single ? 1 : Math.ceil(heads.length / columns);
    canvas.width = margin + columns * (size + 20) + 90; canvas.height = Math.max(260, 30 + rows * (size + 30) + (single ? 80 : 10));
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (single) heatmap(ctx, heads[head - 1], tokens, margin, 30, cell, true, `layer ${layer + 1}, head ${head}`);
    else heads.forEach((m, h) => heatmap(ctx, m, tokens, margin + (h % columns) * (size + 20),
                                         30 + Math.floor(h / columns) * (size + 30), cell, false, `head ${h + 1}`));
    const bar = canvas.width - 60;  // colour bar: attention weight 0 to 1
    for (let k = 0; k < 100; k++) { ctx.fillStyle = colour(1 - k / 99); ctx.fillRect(bar, 30 + k * 2, 14, 2); }
    ctx.fillStyle = "#000"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
    ctx.fillText("1", bar + 18, 38); ctx.fillText("0", bar + 18, 228); ctx.fillText("weight", bar - 4, 244);
    caption.textContent = single ? "rows: the attending token; columns: the token it attends to" :
      "every head of layer " + (layer + 1) + "; choose a head to see its tokens";
    root.dataset.drawn = `${pick("sample").value}/${layer}/${head}`;
  }
  ["sample", "layer", "head"].forEach((name) => pick(name).addEventListener("change", draw));
  draw();
})();
"""


def explorer_html(samples: Sequence[tuple[str, Sequence[str], Tensor]], decimals: int = 3) -> str:
    """Taught in notebook 08, section 1. A self-contained attention explorer as an HTML string:
    ``samples`` are ``(name, tokens, attention)`` with ``attention (layers, heads, L, L)`` (or
    what ``bertviz_layers`` accepts). Menus choose the sample, the layer, and one head or all
    heads; the picture is a heat map with the tokens and a colour bar. No library, no network.
    Display it with ``IPython.display.HTML(explorer_html(...))``."""
    if not samples:
        raise ValueError("no samples: pass at least one (name, tokens, attention)")
    payload = []
    for name, tokens, attention in samples:
        weights = torch.cat(bertviz_layers(attention), dim=0)  # (layers, heads, L, L)
        if weights.shape[-1] != len(tokens):
            raise ValueError(f"{name!r}: {len(tokens)} tokens for attention over {weights.shape[-1]} positions")
        payload.append({"name": str(name), "tokens": [str(t) for t in tokens],
                        "attention": weights.round(decimals=decimals).tolist()})
    shapes = {(len(p["attention"]), len(p["attention"][0])) for p in payload}
    if len(shapes) != 1:
        raise ValueError(f"samples come from models of different shapes (layers, heads): {sorted(shapes)}")
    root = f"course-explorer-{uuid.uuid4().hex}"
    data = json.dumps({"samples": payload}).replace("</", "<\\/")
    return (f'<div id="{root}" class="course-attention-explorer" style="font-family:sans-serif">\n'
            '<label>sentence <select class="sample"></select></label> '
            '<label>layer <select class="layer"></select></label> '
            '<label>head <select class="head"></select></label>\n'
            '<div><canvas></canvas></div><div class="explorer-caption" style="font-size:12px;color:#555"></div>\n'
            f'<script type="application/json" class="explorer-data">{data}</script>\n'
            f'<script type="text/javascript">{_EXPLORER_SCRIPT.replace("ROOT_ID", json.dumps(root))}</script>\n</div>')


def plot_heads(tokens: Sequence[str], attention: Tensor, layer: int, title: str = "", axes=None):
    """Taught in notebook 08, section 1. Every head of one layer as heat maps side by side,
    with one colour bar (weights 0 to 1): the static picture of what the explorer shows."""
    import matplotlib.pyplot as plt

    weights = torch.cat(bertviz_layers(attention), dim=0)[layer]  # (heads, L, L)
    heads = weights.shape[0]
    if axes is None:
        fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads + 1, 3.6), layout="constrained", squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for h, ax in enumerate(axes):
        image = ax.imshow(weights[h].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens if h == 0 else [], fontsize=7)
        ax.set_title(f"layer {layer + 1}, head {h + 1}", fontsize=9)
        ax.set_xlabel("attended token", fontsize=8)
    axes[0].set_ylabel("attending token", fontsize=8)
    fig.colorbar(image, ax=list(axes), fraction=0.02, label="attention weight")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
