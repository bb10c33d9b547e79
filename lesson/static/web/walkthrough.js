// The web walkthrough: mode switch, order form, live causation trees, source viewer.
// Plain JavaScript, no libraries: the page works offline. Everything the server sends is
// inserted as text (textContent), never as HTML.
"use strict";

(function () {
  const POLL_MS = 500;

  // --- small DOM helper -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function ms(value) {
    return value === null || value === undefined ? "" : `${value.toFixed(1)} ms`;
  }

  // --- mode switch ------------------------------------------------------------------------
  function currentMode(form) {
    const checked = form.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : document.body.dataset.mode;
  }

  function showMode(form) {
    const mode = currentMode(form);
    document.body.dataset.mode = mode;
    for (const name of document.querySelectorAll(".mode-name")) name.textContent = mode;
    const url = new URL(window.location.href);
    url.searchParams.set("mode", mode);
    window.history.replaceState(null, "", url);
  }

  // --- placing an order -------------------------------------------------------------------
  function numberOrNull(value) {
    return value === "" ? null : Number(value);
  }

  function clearErrors(form) {
    for (const field of form.querySelectorAll(".field-error")) field.remove();
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    const summary = form.querySelector(".form-error");
    summary.hidden = true;
    summary.textContent = "";
  }

  // Puts each refusal next to the field its loc names (["body", "items", 0, "quantity"]).
  function showErrors(form, detail) {
    const summary = form.querySelector(".form-error");
    const lines = [];
    for (const error of detail) {
      const loc = (error.loc || []).filter((part) => part !== "body").join(".");
      lines.push(loc ? `${loc}: ${error.msg}` : error.msg);
      const field = loc && form.querySelector(`[data-loc="${CSS.escape(loc)}"]`);
      if (field) {
        field.setAttribute("aria-invalid", "true");
        field.closest("label").append(el("span", { class: "field-error", text: error.msg }));
      }
    }
    summary.textContent = lines.join("\n");
    summary.hidden = false;
  }

  async function placeOrder(form) {
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    const body = {
      user_id: numberOrNull(form.elements.user_id.value),
      items: [
        {
          product_id: numberOrNull(form.elements.product_id.value),
          quantity: numberOrNull(form.elements.quantity.value),
        },
      ],
      mode: currentMode(form),
    };
    try {
      const response = await fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
        },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({ detail: [{ msg: `HTTP ${response.status}` }] }));
      if (response.status !== 201) {
        showErrors(form, data.detail || [{ msg: `HTTP ${response.status}` }]);
        return;
      }
      watch(data.order, data.timeline_url);
    } catch (error) {
      showErrors(form, [{ msg: `could not reach the server: ${error}` }]);
    } finally {
      button.disabled = false;
    }
  }

  // --- the live timeline ------------------------------------------------------------------
  function watch(order, timelineUrl) {
    const list = document.getElementById("timeline-list");
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const card = el("article", {
      class: `timeline mode-${order.mode}`,
      "data-order-id": order.id,
      "data-mode": order.mode,
      "data-state": "live",
    });
    list.prepend(card);
    render(card, { order, tree: [], waiting_for: [], settled: false, gave_up: false, links: {} });
    poll(card, timelineUrl);
  }

  async function poll(card, url) {
    let data;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      data = await response.json();
      if (!response.ok) throw new Error((data.detail || []).map((d) => d.msg).join("; ") || response.status);
    } catch (error) {
      card.dataset.state = "error";
      card.querySelector(".state").textContent = `error: ${error.message}`;
      return;
    }
    render(card, data);
    if (!data.settled && !data.gave_up) window.setTimeout(() => poll(card, url), POLL_MS);
  }

  function render(card, data) {
    const order = data.order;
    const state = data.settled ? "settled" : data.gave_up ? "gave-up" : "live";
    card.dataset.state = state;
    card.dataset.status = order.status;
    const stateText = {
      settled: "settled",
      "gave-up": "stopped waiting",
      live: "live: refreshing",
    }[state];
    const senders = Object.entries(data.sent_by || {})
      .map(([service, count]) => `${service} sent ${count}`)
      .join(" · ");
    const links = data.links || {};
    const parts = [
      el(
        "header",
        {},
        el("h3", {}, `${order.mode} mode · order ${order.short_id} · ${order.customer} · ${order.total}`),
        el("span", { class: `status status-${order.status}`, text: order.status_label || order.status }),
        el("span", { class: "state", text: stateText }),
      ),
      el(
        "p",
        { class: "counts" },
        `${data.message_count || 0} messages, ${data.delivery_count || 0} deliveries`,
        senders ? ` (${senders})` : "",
      ),
      el(
        "nav",
        { class: "order-links" },
        el("a", { href: order.admin_url, class: "admin-order" }, "order in the admin"),
        links.messages ? el("a", { href: links.messages, class: "admin-messages" }, "its message log") : null,
        links.dead_letters ? el("a", { href: links.dead_letters, class: "admin-dead-letters" }, "its dead letters") : null,
      ),
      data.waiting_for && data.waiting_for.length
        ? el("p", { class: "waiting" }, `waiting for: ${data.waiting_for.join(", ")}`)
        : null,
      el("ul", { class: "tree" }, (data.tree || []).map(nodeElement)),
    ];
    card.replaceChildren(...parts.filter(Boolean));
  }

  function nodeElement(node) {
    const tag = node.kind === "event" ? "EVT" : "CMD";
    const via = node.sender ? `${node.sender} → ${node.route || "?"}` : "not sent by this app";
    return el(
      "li",
      { class: `node kind-${node.kind}`, "data-name": node.name, "data-message-id": node.message_id },
      el(
        "div",
        { class: "message" },
        el("span", { class: `kind-tag kind-${node.kind}`, text: tag }),
        el("code", { class: "name", text: node.name }),
        el("span", { class: "via", text: via }),
        node.sent_ms !== null ? el("span", { class: "at", text: `sent +${ms(node.sent_ms)}` }) : null,
      ),
      el(
        "ul",
        { class: "deliveries" },
        node.deliveries.map(deliveryElement),
        node.waiting_on.map((who) =>
          el(
            "li",
            { class: "delivery status-waiting", "data-waiting-on": who },
            el("span", { class: "waiting-on" }, el("strong", { text: who }), " has not answered yet"),
          ),
        ),
      ),
      node.children.length ? el("ul", { class: "children" }, node.children.map(nodeElement)) : null,
    );
  }

  function deliveryElement(d) {
    return el(
      "li",
      { class: `delivery status-${d.status}`, "data-service": d.service, "data-status": d.status },
      el("span", { class: "service", text: d.service }),
      el("span", { class: "route", text: d.route }),
      el("span", { class: "status-word", text: d.status.replace("_", "-") }),
      el("span", { class: "attempts", text: d.attempts === 1 ? "1 attempt" : `${d.attempts} attempts` }),
      el("span", { class: "duration", text: ms(d.duration_ms) }),
      el("span", { class: "did", text: d.did || "" }),
    );
  }

  // --- evidence: the cited source lines, under the table row --------------------------------
  async function showSource(link) {
    const row = link.closest("tr");
    const next = row.nextElementSibling;
    if (next && next.classList.contains("evidence-row")) {
      const same = next.dataset.url === link.href;
      next.remove();
      if (same) return; // a second click on the same location closes it
    }
    const cell = el("td", { colspan: row.children.length }, el("p", { class: "loading", text: "loading…" }));
    const detail = el("tr", { class: "evidence-row", "data-url": link.href }, cell);
    row.after(detail);
    try {
      const response = await fetch(link.href, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) throw new Error((data.detail || []).map((d) => d.msg).join("; "));
      cell.replaceChildren(
        el(
          "div",
          { class: "source-viewer" },
          el("p", { class: "source-title" }, el("code", { text: data.location }), data.why ? ` · ${data.why}` : ""),
          el(
            "pre",
            { class: "excerpt" },
            data.lines.map((line) =>
              el(
                "span",
                { class: line.cited ? "line cited" : "line", "data-line": line.number },
                el("span", { class: "ln", text: String(line.number) }),
                el("span", { class: "code", text: line.text }),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      cell.replaceChildren(el("p", { class: "warning", text: `cannot show ${link.textContent}: ${error.message}` }));
    }
  }

  // Measuring reads the code base and the message log, which takes a while: the tables are
  // fetched once their section scrolls into view, never while the form is being used.
  function loadTablesWhenSeen() {
    const body = document.getElementById("tables-body");
    if (!body) return;
    if (!("IntersectionObserver" in window)) {
      loadTables(body);
      return;
    }
    const observer = new IntersectionObserver((entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      observer.disconnect();
      loadTables(body);
    });
    observer.observe(body);
  }

  async function loadTables(body) {
    body.dataset.loaded = "loading";
    try {
      const response = await fetch(body.dataset.src, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body.innerHTML = await response.text(); // server-rendered by Django's template engine, escaped there
      body.dataset.loaded = "true";
    } catch (error) {
      body.replaceChildren(el("p", { class: "warning", text: `the tables could not be measured: ${error.message}` }));
      body.dataset.loaded = "error";
    }
  }

  // --- wiring ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("order-form");
    if (form) {
      showMode(form);
      form.addEventListener("change", (event) => {
        if (event.target.name === "mode") showMode(form);
      });
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        placeOrder(form);
      });
    }
    loadTablesWhenSeen();
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a.source-link");
      if (!link) return;
      event.preventDefault();
      showSource(link);
    });
  });
})();
