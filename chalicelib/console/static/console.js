// Relasi staff console: the ID token in the browser session, sent with every htmx request; sign-in and
// sign-out; SLA countdowns. No inline script anywhere (CSP default-src 'self').
(function () {
  "use strict";
  var KEY = "relasi.idToken";
  // The API's stage or base path in front of /console (empty locally), as the page was served.
  var ROOT = document.documentElement.dataset.root || "";
  var HOME = ROOT + "/console";
  var SIGN_IN = HOME + "/sign-in";

  function onConsole(path) {  // a path of this console, never another site or page
    return path.indexOf(HOME) === 0 && /^(\/|$|\?)/.test(path.slice(HOME.length)) && path.indexOf("//") === -1;
  }

  function token() {
    var value = sessionStorage.getItem(KEY);
    if (!value) return null;
    try {
      var claims = JSON.parse(atob(value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (!claims.exp || claims.exp * 1000 < Date.now() + 5000) { sessionStorage.removeItem(KEY); return null; }
    } catch (e) { sessionStorage.removeItem(KEY); return null; }
    return value;
  }

  function toSignIn(expired) {
    sessionStorage.removeItem(KEY);
    var here = location.pathname + location.search;
    location.assign(SIGN_IN + "?next=" + encodeURIComponent(here) + (expired ? "&expired=1" : ""));
  }

  function safeNext() {
    var next = new URLSearchParams(location.search).get("next") || HOME;
    return onConsole(next) ? next : HOME;
  }

  // --- sign-in page ---
  function signInPage() {
    if (new URLSearchParams(location.search).get("expired")) document.getElementById("sign-in-note").hidden = false;
    var form = document.getElementById("local-sign-in");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new FormData(form);
        fetch(ROOT + "/_relasi/sign-in", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({username: data.get("username"), password: data.get("password")})})
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (body) { sessionStorage.setItem(KEY, body.id_token); location.assign(safeNext()); })
          .catch(function () { document.getElementById("sign-in-error").hidden = false; });
      });
    }
    var hosted = document.getElementById("hosted");
    if (hosted) hostedSignIn(hosted);
  }

  // Cognito managed login: authorization code with PKCE, public client, back to /console/sign-in?code=...
  function hostedSignIn(box) {
    var base = box.dataset.loginUrl, client = box.dataset.clientId;
    var redirect = location.origin + SIGN_IN;
    var params = new URLSearchParams(location.search);
    var button = document.getElementById("hosted-sign-in");
    if (params.get("code")) {
      var verifier = sessionStorage.getItem("relasi.pkce"), state = sessionStorage.getItem("relasi.state");
      sessionStorage.removeItem("relasi.pkce");
      sessionStorage.removeItem("relasi.state");
      history.replaceState(null, "", SIGN_IN);  // a used code is never sent twice (Back, reload)
      if (!verifier || !state || params.get("state") !== state) {
        document.getElementById("sign-in-note").hidden = false;
      } else {
        var body = new URLSearchParams({grant_type: "authorization_code", client_id: client, code: params.get("code"),
                                        redirect_uri: redirect, code_verifier: verifier});
        button.disabled = true;
        fetch(base + "/oauth2/token", {method: "POST", body: body,
                                       headers: {"Content-Type": "application/x-www-form-urlencoded"}})
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (t) {
            sessionStorage.setItem(KEY, t.id_token);
            var next = sessionStorage.getItem("relasi.next") || HOME;
            sessionStorage.removeItem("relasi.next");
            location.assign(onConsole(next) ? next : HOME);
          })
          .catch(function () { button.disabled = false; document.getElementById("sign-in-note").hidden = false; });
      }
    }
    button.addEventListener("click", function () {
      var bytes = crypto.getRandomValues(new Uint8Array(32));
      var verifier = btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      var state = btoa(String.fromCharCode.apply(null, crypto.getRandomValues(new Uint8Array(16))))
        .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      sessionStorage.setItem("relasi.pkce", verifier);
      sessionStorage.setItem("relasi.state", state);
      sessionStorage.setItem("relasi.next", safeNext());
      crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
        var challenge = btoa(String.fromCharCode.apply(null, new Uint8Array(digest)))
          .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        location.assign(base + "/oauth2/authorize?" + new URLSearchParams({
          response_type: "code", client_id: client, redirect_uri: redirect, scope: "openid email phone profile",
          state: state, code_challenge_method: "S256", code_challenge: challenge}));
      });
    });
  }

  // --- SLA countdowns: green, amber once half the window is gone, red when the deadline has passed ---
  function duration(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000), hours = Math.floor(minutes / 60), days = Math.floor(hours / 24);
    if (days) return days + "d " + (hours % 24) + "h";
    if (hours) return hours + "h " + (minutes % 60) + "m";
    return minutes + "m " + Math.floor(Math.abs(ms) / 1000) % 60 + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.dataset.deadline), start = Date.parse(el.dataset.windowStart || el.dataset.deadline);
      var scale = parseFloat(el.dataset.scale || "1");  // the local stack's RELASI_TIME_SCALE (1 in the cloud)
      var at = now > start ? start + (now - start) * scale : now;
      var left = (deadline - at) / scale;
      var state = left <= 0 ? "red" : (at >= start + (deadline - start) / 2 ? "amber" : "green");
      if (el.classList.contains("sla-red")) state = "red";  // breached stays breached (the server knows)
      el.classList.remove("sla-green", "sla-amber", "sla-red");
      el.classList.add("sla-" + state);
      el.textContent = left > 0 ? duration(left) + " " + el.dataset.left : duration(left) + " " + el.dataset.late;
      var row = el.closest("tr");
      if (row) { row.classList.remove("row-green", "row-amber", "row-red"); row.classList.add("row-" + state); }
    });
  }

  // --- the campaign builder's text check: GSM-7, and SMS parts once filled with the longest name and branch and
  // followed by the opt-out line (the server checks the same: chalicelib/domain/campaigns.py check_texts) ---
  var GSM = "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5\u0394_\u03a6\u0393" +
    "\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9 !\"#\u00a4%&'()*+,-./0123456789:;<=>?" +
    "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7\u00bfabcdefghijklmnopqrstuvwxyz" +
    "\u00e4\u00f6\u00f1\u00fc\u00e0";
  var GSM_EXTENDED = "^{}\\[~]|\u20ac\f";

  function gsmCheck(area) {
    var out = area.closest("label").nextElementSibling;
    if (!out || !out.classList.contains("gsm-check")) return;
    if (area.dataset.channel !== "sms") { out.textContent = ""; return; }
    var text = area.value.split("{first_name}").join(area.dataset.firstName)
      .split("{branch_name}").join(area.dataset.branch);
    var chars = Array.from(text), septets = 0;
    for (var i = 0; i < chars.length; i++) {
      if (GSM.indexOf(chars[i]) >= 0) septets += 1;
      else if (GSM_EXTENDED.indexOf(chars[i]) >= 0) septets += 2;
      else {
        out.textContent = "\u2717 \u201c" + chars[i] + "\u201d (" + (i + 1) + "): not GSM-7";
        out.className = "gsm-check flash-error";
        return;
      }
    }
    septets += parseInt(area.dataset.suffix, 10);
    var part = parseInt(area.dataset.part, 10), parts = septets <= part ? 1 : Math.ceil(septets / 153);
    out.textContent = septets + " / " + part + " \u00b7 " + parts + " SMS";
    out.className = "gsm-check " + (parts > 1 ? "flash-error" : "muted");
  }

  function checkTexts() { document.querySelectorAll("textarea.gsm").forEach(gsmCheck); }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea.gsm")) gsmCheck(event.target);
  });

  // Registered as the script runs (before htmx's own load-time requests, which start on DOMContentLoaded).
  // The token lives in each tab's session; a tab a telephony system opens asks the console's other tabs for
  // theirs (same origin only) before it sends anyone to sign in.
  var tabs = window.BroadcastChannel ? new BroadcastChannel("relasi-console") : null;
  if (tabs) {
    tabs.onmessage = function (event) {
      var current = token();
      if (event.data === "token?" && current) tabs.postMessage({token: current});
    };
  }

  function askOtherTabs(then) {
    if (!tabs) { then(null); return; }
    var done = false;
    var previous = tabs.onmessage;
    tabs.onmessage = function (event) {
      if (!done && event.data && event.data.token) { done = true; tabs.onmessage = previous; then(event.data.token); }
    };
    tabs.postMessage("token?");
    setTimeout(function () { if (!done) { done = true; tabs.onmessage = previous; then(null); } }, 400);
  }

  function signOut() {
    sessionStorage.clear();
    if (tabs) tabs.postMessage("signed-out");
    var login = document.documentElement.dataset.loginUrl, client = document.documentElement.dataset.clientId;
    if (login) {  // end the managed login's own session too, or the next person is signed in as this one
      location.assign(login + "/logout?" + new URLSearchParams({client_id: client, logout_uri: location.origin + SIGN_IN}));
    } else {
      location.assign(SIGN_IN);
    }
  }

  function consolePage() {
    if (!token()) {
      var seen = !!sessionStorage.getItem("relasi.seen");
      document.addEventListener("htmx:configRequest", function (event) { if (!token()) event.preventDefault(); });
      askOtherTabs(function (shared) {
        if (shared) { sessionStorage.setItem(KEY, shared); location.reload(); } else toSignIn(seen);
      });
      return;
    }
    sessionStorage.setItem("relasi.seen", "1");
    document.addEventListener("htmx:configRequest", function (event) {
      var current = token();
      if (!current) { event.preventDefault(); toSignIn(true); return; }
      event.detail.headers["Authorization"] = "Bearer " + current;
    });
    document.addEventListener("htmx:beforeRequest", function (event) {
      // the queue's 30-second refresh waits while someone is typing in it (a resolution note)
      var rows = document.getElementById("queue-rows");
      if (event.detail.elt === rows && rows.contains(document.activeElement)) { event.preventDefault(); return; }
      var flash = document.getElementById("flash");
      if (flash && event.detail.requestConfig && event.detail.requestConfig.verb !== "get") flash.innerHTML = "";
    });
    document.addEventListener("htmx:responseError", function (event) {
      if (event.detail.xhr.status === 401) toSignIn(true);
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (event.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) form.reset();
    });
    document.addEventListener("click", function (event) {
      if (event.target.id === "sign-out") signOut();
    });
    document.addEventListener("htmx:afterSettle", tick);
    document.addEventListener("htmx:afterSettle", checkTexts);
    document.addEventListener("htmx:afterSwap", function (event) {  // "nothing yet" goes once something is there
      var list = event.detail.target;
      if (list && list.querySelectorAll) {
        list.querySelectorAll(":scope > li.none").forEach(function (none) {
          if (none.parentNode.children.length > 1) none.remove();
        });
      }
    });
    if (tabs) {
      var previous = tabs.onmessage;
      tabs.onmessage = function (event) {
        if (event.data === "signed-out") { sessionStorage.clear(); location.assign(SIGN_IN); }
        else if (previous) previous(event);
      };
    }
    setInterval(tick, 1000);
  }

  document.addEventListener("click", function (event) {
    var lang = event.target.dataset && event.target.dataset.lang;
    if (lang) { document.cookie = "relasi_lang=" + lang + "; path=" + HOME + "; SameSite=Strict"; location.reload(); }
  });

  if (location.pathname === SIGN_IN) document.addEventListener("DOMContentLoaded", signInPage);
  else consolePage();
})();
