// Core314 live updates: one WebSocket per page, reconnecting with backoff. Each message is re-dispatched
// on <body> as "live" (detail = the message) and as "live-<app>" so htmx regions can refresh themselves
// with hx-trigger="live-<app> from:body"; the refresh is an ordinary, permission-checked HTTP request.
(function () {
  "use strict";
  var url = document.body.dataset.liveUrl;
  if (!url) return;
  var status = document.getElementById("live-status");
  var delay = 1000;
  var maxDelay = 30000;
  var socket = null;
  var pingTimer = null;
  var lastPong = 0;

  function setState(state, label) {
    if (!status) return;
    status.dataset.state = state;
    status.querySelector(".label").textContent = label;
  }

  // Regions refresh at most every 300 ms per app, and always once more after the last change, so a burst
  // of rows costs a few fetches and the page still ends up showing the newest state.
  var minGap = 300;
  var pending = {};
  function refresh(app) {
    var slot = pending[app] || (pending[app] = { timer: null, dirty: false });
    if (slot.timer) { slot.dirty = true; return; }
    document.body.dispatchEvent(new CustomEvent("live-" + app));
    slot.timer = setTimeout(function () {
      slot.timer = null;
      if (slot.dirty) { slot.dirty = false; refresh(app); }
    }, minGap);
  }

  function dispatch(message) {
    document.body.dispatchEvent(new CustomEvent("live", { detail: message }));
    if (message.model) refresh(message.model.split(".")[0]);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + url);
    setState("connecting", "Connecting…");
    socket.onopen = function () {
      delay = 1000;
      lastPong = Date.now();
      setState("open", "Live");
      // Whatever changed between the page's render (or the socket's loss) and now went to nobody: every live
      // region refreshes once, now that new changes are heard (refreshing earlier could miss one in between).
      document.body.dispatchEvent(new CustomEvent("live-resync"));
      pingTimer = setInterval(function () {
        if (socket.readyState !== WebSocket.OPEN) return;
        // A connection a proxy or NAT dropped without a close frame answers nothing: start over.
        if (Date.now() - lastPong > 60000) { socket.close(); return; }
        socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    socket.onmessage = function (event) {
      var message;
      lastPong = Date.now();
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.event === "hello" || message.event === "pong") return;
      dispatch(message);
    };
    socket.onclose = function (event) {
      clearInterval(pingTimer);
      if (event.code === 4401) { setState("closed", "Signed out"); return; }
      setState("closed", "Reconnecting…");
      // Full jitter keeps a restarted server from being hit by every page at the same instant.
      var wait = Math.random() * delay;
      delay = Math.min(delay * 2, maxDelay);
      setTimeout(connect, wait);
    };
  }

  window.core314Live = { dispatch: dispatch };
  connect();
})();
