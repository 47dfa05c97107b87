"""course_utils.viz.attention without a browser: bertviz's format, the offline inlining, the
explorer's page. tests/test_browser_views.py renders them in Chromium."""

from __future__ import annotations

import json
import re

import pytest
import torch

from course_utils.viz import attention as A

TOKENS = ["[CLS]", "the", "cat", "[SEP]", "sat", "[SEP]"]


@pytest.fixture
def weights():
    torch.manual_seed(0)
    return torch.softmax(torch.randn(2, 4, 6, 6), -1)  # (layers, heads, L, L)


@pytest.fixture
def fake_libraries(tmp_path):
    """Stand-ins with the npm layout: enough to check what is inlined where."""
    for relative, body in {"node_modules/requirejs/require.js": "var requirejs = 'REQUIRE_SOURCE';",
                           "node_modules/d3/dist/d3.min.js": "window.d3 = 'D3_SOURCE';",
                           "node_modules/jquery/dist/jquery.min.js": "window.jQuery = 'JQUERY_SOURCE';"}.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True)
        path.write_text(body)
    return tmp_path


def test_bertviz_layers_accepts_the_course_shapes(weights):
    from_stack = A.bertviz_layers(weights)
    from_list = A.bertviz_layers([layer for layer in weights])  # (heads, L, L) per layer
    from_batched = A.bertviz_layers([layer[None] for layer in weights])
    assert len(from_stack) == 2 and all(t.shape == (1, 4, 6, 6) for t in from_stack)
    for a, b, c in zip(from_stack, from_list, from_batched):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)
    with pytest.raises(ValueError, match="layer 0"):
        A.bertviz_layers([torch.ones(2, 4, 6, 6)])
    with pytest.raises(ValueError, match="no attention"):
        A.bertviz_layers([])


def test_find_libraries_reads_npm_layout_and_says_how_to_install(fake_libraries, tmp_path_factory):
    found = A.find_libraries(fake_libraries)
    assert set(found) == {"requirejs", "d3", "jquery"}
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError) as missing:
        A.find_libraries(empty)
    message = str(missing.value)
    assert "requirejs@2.3.6" in message and "d3@5.7.0" in message and "jquery@2.2.4" in message
    assert f"npm install --prefix {empty}" in message


def test_the_offline_head_view_carries_the_libraries_and_no_cdn_address(weights, fake_libraries):
    page = A.head_view(weights, TOKENS, sentence_b_start=4, library_folder=fake_libraries).data
    assert "cdnjs.cloudflare.com/ajax/libs/require.js" not in page
    for source in ("REQUIRE_SOURCE", "D3_SOURCE", "JQUERY_SOURCE"):
        assert source in page
    # d3 and jQuery run before require.js exists and are then named modules
    assert page.index("D3_SOURCE") < page.index("REQUIRE_SOURCE") < page.index("define('d3'")
    assert page.index("define('jquery'") < page.index("requirejs(['jquery', 'd3']")
    online = A.head_view(weights, TOKENS, offline=False).data
    assert "cdnjs.cloudflare.com/ajax/libs/require.js" in online


def test_without_libraries_the_view_says_it_will_stay_empty(weights, tmp_path, monkeypatch):
    monkeypatch.setenv(A.LIBRARY_FOLDER_VARIABLE, str(tmp_path))
    page = A.model_view(weights, TOKENS).data
    assert page.startswith("<p") and "stays empty" in page and "npm install" in page


def test_encoder_decoder_views_take_the_three_attentions(weights, fake_libraries):
    cross = torch.softmax(torch.randn(2, 4, 3, 6), -1)
    page = A.head_view(None, encoder_attention=weights, decoder_attention=torch.softmax(torch.randn(2, 4, 3, 3), -1),
                       cross_attention=cross, encoder_tokens=TOKENS, decoder_tokens=["<s>", "a", "b"],
                       library_folder=fake_libraries).data
    assert "Cross" in page or "cross" in page
    with pytest.raises(ValueError, match="tokens are required"):
        A.head_view(weights)


def test_explorer_page_holds_every_sample_and_checks_its_input(weights):
    page = A.explorer_html([("first", TOKENS, weights), ("second", TOKENS, weights.flip(-1))])
    data = json.loads(re.search(r'class="explorer-data">(.*?)</script>', page, re.S).group(1))
    assert [s["name"] for s in data["samples"]] == ["first", "second"]
    assert len(data["samples"][0]["attention"]) == 2 and len(data["samples"][0]["attention"][0]) == 4
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch
    with pytest.raises(ValueError, match="5 tokens"):
        A.explorer_html([("bad", TOKENS[:5], weights)])
    with pytest.raises(ValueError, match="different shapes"):
        A.explorer_html([("a", TOKENS, weights), ("b", TOKENS, weights[:1])])


def test_a_token_cannot_close_the_explorers_script(weights):
    page = A.explorer_html([("x", ["</script>", *TOKENS[1:]], weights)])
    assert page.count("</script>") == 2  # the data block's and the code's own


def test_plot_heads_draws_one_panel_per_head_and_one_colour_bar(weights):
    import matplotlib

    matplotlib.use("Agg")
    figure = A.plot_heads(TOKENS, weights, layer=1, title="t")
    assert len(figure.axes) == 4 + 1  # four heads and the colour bar
    assert figure.axes[0].get_title() == "layer 2, head 1"
