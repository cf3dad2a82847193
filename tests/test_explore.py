"""The latent explorer's server over real HTTP: the page, /info, /render and /translate, and
every kind of bad request answered with a 4xx while the server stays up."""
import http.client
import json
import threading

import numpy as np
import pytest
import tensorflow as tf

from gan_zoo.serving import explore, export


@pytest.fixture(scope="module")
def servers(exports):
    """{family: (host, port, explorer)} for the label cGAN and the img2img export."""
    running = {}
    for family in ("label", "img2img"):
        model, metadata = export.load(exports[family][0])
        explorer = explore.Explorer(model, metadata, directions=4)
        server = explore.make_server(explorer, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running[family] = (server, explorer)
    yield {family: (*server.server_address[:2], explorer) for family, (server, explorer) in running.items()}
    for server, _ in running.values():
        server.shutdown()
        server.server_close()


def _request(address, method, path, body=None, headers=None):
    host, port = address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type"), data


def _error(result):
    status, content_type, data = result
    assert content_type == "application/json"
    return status, json.loads(data)["error"]


def test_binds_localhost_and_serves_the_page_and_info(servers):
    host, port, _ = servers["label"]
    assert host == "127.0.0.1"
    status, content_type, page = _request(servers["label"], "GET", "/")
    assert status == 200 and content_type.startswith("text/html")
    for element in (b'id="image"', b'id="random"', b'id="vector"', b'id="label"', b"/render"):
        assert element in page
    status, _, data = _request(servers["label"], "GET", "/info")
    info = json.loads(data)
    assert status == 200 and info["noise_dim"] == 100 and len(info["class_names"]) == 10
    assert len(info["directions"]) == 4 and all(len(d) == 100 for d in info["directions"])
    np.testing.assert_allclose(np.linalg.norm(info["directions"], axis=1), 1.0, rtol=1e-5)


def test_render_gives_the_exports_image(servers, exports):
    noise = np.random.default_rng(3).normal(size=100).round(3)
    status, content_type, data = _request(servers["label"], "POST", "/render",
                                          {"noise": noise.tolist(), "label": 7})
    assert status == 200 and content_type == "image/png"
    image = tf.io.decode_png(data).numpy()
    model, _ = export.load(exports["label"][0])
    expected = model.signatures["serving_default"](
        labels=tf.constant([7]), noise=tf.constant(noise[None], tf.float32))["images"].numpy()[0]
    np.testing.assert_array_equal(image, expected)


def test_principal_direction_sliders_change_the_image(servers):
    """Moving along the first principal direction changes the output more than moving along a
    random direction of the same length: the extra sliders do what they say."""
    _, _, explorer = servers["label"]
    rng = np.random.default_rng(4)
    base = rng.normal(size=100)
    random_direction = rng.normal(size=100)
    random_direction /= np.linalg.norm(random_direction)

    def image(z):
        return tf.io.decode_png(explorer.render({"noise": z.tolist(), "label": 2})).numpy().astype(float)

    along_pc = np.abs(image(base + 3 * explorer.directions[0]) - image(base)).mean()
    along_random = np.abs(image(base + 3 * random_direction) - image(base)).mean()
    assert along_pc > along_random


@pytest.mark.parametrize("body,status,words", [
    ("not json", 400, "not JSON"),
    ('{"noise": [NaN], "label": 1}', 400, "NaN"),
    ([1, 2, 3], 400, "JSON object"),
    ({"noise": [0.0] * 99, "label": 1}, 400, "100 numbers; got 99"),
    ({"noise": [0.0] * 99 + [1e6], "label": 1}, 400, "finite numbers in [-10, 10]"),
    ({"noise": [0.0] * 99 + ["1"], "label": 1}, 400, "finite numbers"),
    ({"noise": [0.0] * 100, "label": 10}, 400, "integer in 0..9"),
    ({"noise": [0.0] * 100, "label": True}, 400, "integer in 0..9"),
    ({"noise": [0.0] * 100, "label": 1.5}, 400, "integer in 0..9"),
    ({"noise": [0.0] * 100, "label": 1, "seed": 3}, 400, "unknown field"),
])
def test_malformed_render_requests_get_a_4xx_naming_the_problem(servers, body, status, words):
    got, message = _error(_request(servers["label"], "POST", "/render", body))
    assert got == status and words in message


def test_oversized_unknown_and_wrong_method_requests_and_the_server_stays_up(servers):
    address = servers["label"]
    status, message = _error(_request(address, "POST", "/render", "x" * (explore.MAX_JSON_BYTES + 1)))
    assert status == 413 and "at most" in message
    assert _error(_request(address, "GET", "/etc/passwd"))[0] == 404
    assert _error(_request(address, "GET", "/../../etc/passwd"))[0] == 404
    assert _error(_request(address, "POST", "/shutdown", {}))[0] == 404
    assert _error(_request(address, "GET", "/render"))[0] == 405
    assert _error(_request(address, "POST", "/translate", b"\x89PNG"))[0] == 400  # not img2img
    status, _, _ = _request(address, "POST", "/render", {"noise": [0.0] * 100, "label": 0})
    assert status == 200  # still serving after all of the above


def test_translate_an_uploaded_image_and_refuse_garbage(servers, exports):
    address = servers["img2img"]
    status, _, page = _request(address, "GET", "/")
    assert status == 200 and b'id="upload"' in page
    _, _, inputs = exports["img2img"]
    upload = tf.io.encode_png(inputs["images"][0]).numpy()
    status, content_type, data = _request(address, "POST", "/translate", upload)
    assert status == 200 and content_type == "image/png"
    model, _ = export.load(exports["img2img"][0])
    expected = model.signatures["serving_default"](images=tf.constant(inputs["images"][:1]))["images"]
    np.testing.assert_array_equal(tf.io.decode_png(data).numpy(), expected.numpy()[0])
    status, message = _error(_request(address, "POST", "/translate", b"not an image at all"))
    assert status == 400 and "not a PNG" in message
    assert _error(_request(address, "POST", "/render", {"noise": []}))[0] == 400


def test_the_page_in_headless_chromium(servers, tmp_path):
    """End to end in a real browser (Debian's chromium + chromium-driver, which tests/run.sh
    installs): the page loads and draws, a slider moved by the keyboard changes the image
    without a reload, and a screenshot is saved."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver_path, "install Debian's chromium and chromium-driver (bash tests/run.sh does)"
    options = Options()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1200,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        host, port, _ = servers["label"]
        driver.get(f"http://{host}:{port}/")
        wait = WebDriverWait(driver, 60)

        def drawn(previous=None):
            def check(d):
                source = d.find_element(By.ID, "image").get_attribute("src") or ""
                idle = d.execute_script("return !busy && !pending")
                done = d.execute_script("const i = document.getElementById('image');"
                                        "return i.complete && i.naturalWidth > 0")
                return source.startswith("blob:") and source != previous and idle and done and source
            return wait.until(check)

        def pixels():
            data = driver.find_element(By.ID, "image").screenshot_as_png
            return tf.io.decode_png(data, channels=3).numpy().astype(int)

        first_source = drawn()
        before = pixels()
        marker = driver.execute_script("return window.performance.timeOrigin")
        driver.find_element(By.ID, "slider-pc1").send_keys(Keys.END)  # the slider to its maximum
        drawn(first_source)
        after = pixels()
        assert np.abs(after - before).mean() > 1.0, "moving the slider did not change the image"
        assert driver.execute_script("return window.performance.timeOrigin") == marker  # no reload
        vector = json.loads(driver.find_element(By.ID, "vector").get_attribute("value"))
        assert len(vector) == 100
        screenshot = tmp_path / "explorer.png"  # kept with the test's files to look at
        driver.save_screenshot(str(screenshot))
        assert tf.io.decode_png(screenshot.read_bytes()).shape[1] == 1200  # the window's width
        assert driver.find_element(By.ID, "error").text == ""
    finally:
        driver.quit()


def test_the_command_serves_until_stopped(exports, tmp_path):
    """`python -m gan_zoo explore` prints its address, answers there, and stops on SIGINT, also
    when started with SIGINT ignored (as a background job of a non-interactive shell is)."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from conftest import ROOT, run_cli
    # stderr to a file: a pipe nobody reads can fill up and block the server's exit
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "gan_zoo.serving.explore", f"--export_dir={exports['label'][0]}",
             "--port=0", "--directions=2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        try:
            line = process.stdout.readline()
            assert " at http://127.0.0.1:" in line, (tmp_path / "stderr.txt").read_text()[-2000:]
            url = line.split(" at ")[1].split()[0]
            with urllib.request.urlopen(url + "info", timeout=30) as response:
                assert json.loads(response.read())["noise_dim"] == 100
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)
    assert process.returncode == 0, (tmp_path / "stderr.txt").read_text()[-2000:]
    missing = run_cli("gan_zoo.serving.explore", "--export_dir=/no/such/export")
    assert missing.returncode == 2 and "No SavedModel" in missing.stderr


# --- abuse: fuzzed requests, stalled clients, a flood of connections (bench/explore_load.py) --
def _bench():
    import os
    import sys

    from conftest import ROOT
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import explore_load
    return explore_load


def test_fuzzed_requests_each_get_a_4xx_or_a_close_and_the_server_stays_up(servers):
    """1,000 of the bench's fuzz cases: random paths and queries, methods, oversized headers,
    lying Content-Lengths, bad JSON values and counts, unicode, deep nesting, invalid UTF-8."""
    bench = _bench()
    host, port, _ = servers["label"]
    outcomes, bad, slowest = bench.fuzz((host, port), 1000, seed=1, answer_within=5.0)
    assert bad == [] and slowest < 5.0
    assert {400, 404, 405, 411, 413, 414, 431} <= set(outcomes)  # the fuzz reached each refusal
    status, _, png = _request(servers["label"], "POST", "/render", {"noise": [0.0] * 100, "label": 2})
    assert status == 200 and png.startswith(b"\x89PNG")


def test_stalled_clients_are_closed_and_a_flood_of_connections_gets_503(servers):
    bench = _bench()
    explorer = servers["label"][2]
    server = explore.make_server(explorer, port=0, request_timeout=1.0, max_connections=3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = server.server_address[:2]
    try:
        stalled = bench.stalled_clients(address, 3)  # half a request each, then nothing
        outcome, seconds = bench.send_raw(address, b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        assert outcome == 503 and seconds < 1.0  # refused at once, not queued behind them
        assert all(bench.closed_within(s, 5.0) for s in stalled)  # the 1 s request timeout
        for s in stalled:
            s.close()
        status, _, png = _request(address, "POST", "/render", {"noise": [0.0] * 100, "label": 2})
        assert status == 200 and png.startswith(b"\x89PNG")  # their slots came back
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host,who", [
    ("127.0.0.1", None), ("localhost", None), ("::1", None), ("127.0.0.2", None),
    ("0.0.0.0", "every network interface"), ("::", "every network interface"),
    ("192.168.1.5", "192.168.1.5"), ("my-laptop.lan", "my-laptop.lan"),
])
def test_a_host_other_than_loopback_is_named_with_who_can_reach_it(host, who):
    found = explore.reachable_by(host)
    assert (found is None) if who is None else (who in found)
