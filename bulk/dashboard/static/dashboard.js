// The dashboard's only script: keeps the numbers on the page current by polling its small JSON
// endpoint and changing only what changed (no reload, no flicker). Without it the pages still work.
(function () {
  "use strict";

  const live = document.getElementById("live");
  if (!live) {
    return;
  }
  const url = live.dataset.liveUrl;
  const openMs = Number(live.dataset.pollOpen) || 2000;
  const idleMs = Number(live.dataset.pollIdle) || 5000;
  const errorMs = 15000;
  const indicator = document.querySelector(".live");
  const indicatorText = document.querySelector("[data-live-status]");
  let timer = null;
  let inFlight = false;

  function setText(element, value) {
    if (!element) {
      return;
    }
    const text = value === null || value === undefined ? "" : String(value);
    if (element.textContent !== text) {
      element.textContent = text;
    }
  }

  function setAttribute(element, name, value) {
    if (element && element.getAttribute(name) !== String(value)) {
      element.setAttribute(name, String(value));
    }
  }

  function setHidden(element, hidden) {
    if (element && element.hidden !== hidden) {
      element.hidden = hidden;
    }
  }

  function fromTemplate(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  // Put `items` into `tbody` in order: keep rows that are there, add new ones, drop the others.
  function reconcile(tbody, items, keyAttribute, keyOf, templateId, update) {
    const existing = new Map();
    for (const row of tbody.querySelectorAll(":scope > tr[" + keyAttribute + "]")) {
      existing.set(row.getAttribute(keyAttribute), row);
    }
    let previous = null;
    for (const item of items) {
      const key = String(keyOf(item));
      let row = existing.get(key);
      if (row) {
        existing.delete(key);
      } else {
        row = fromTemplate(templateId);
        row.setAttribute(keyAttribute, key);
      }
      update(row, item);
      const expected = previous ? previous.nextElementSibling : tbody.firstElementChild;
      if (expected !== row) {
        tbody.insertBefore(row, expected);
      }
      previous = row;
    }
    for (const row of existing.values()) {
      row.remove();
    }
  }

  function updateBulkRow(row, bulk) {
    setAttribute(row, "data-state", bulk.state);
    const link = row.querySelector("a[data-field=route]");
    setAttribute(link, "href", bulk.url);
    setText(link, bulk.route);
    for (const field of ["description", "uuid", "owner", "start_time", "operation_count"]) {
      setText(row.querySelector("[data-field=" + field + "]"), bulk[field]);
    }
    setText(row.querySelector("[data-field=percent]"), bulk.percent + "%");
    for (const cell of row.querySelectorAll("td[data-status]")) {
      const count = bulk.counts[cell.dataset.status];
      setText(cell, count);
      if (cell.classList.contains("zero") !== (count === 0)) {
        cell.classList.toggle("zero", count === 0);
      }
    }
    const bar = row.querySelector("[role=progressbar]");
    setAttribute(bar, "aria-valuenow", bulk.percent);
    setAttribute(bar, "aria-valuetext", bulk.progress_text);
    setAttribute(bar, "title", bulk.progress_text);
    for (const segment of bulk.segments) {
      const rect = row.querySelector("rect[data-segment='" + segment.status + "']");
      setAttribute(rect, "x", segment.x);
      setAttribute(rect, "width", segment.width);
    }
  }

  function updateOperationRow(row, operation) {
    setText(row.querySelector("[data-field=id]"), operation.id);
    const badge = row.querySelector("[data-field=status]");
    setText(badge, operation.status_label + " (" + operation.status + ")");
    setAttribute(badge, "class", "badge s" + operation.status);
    setText(row.querySelector("[data-field=result_message]"), operation.result_message);
    setText(row.querySelector("[data-field=error_code]"), operation.error_code);
    const item = row.querySelector("[data-field=item]");
    setText(item, operation.item || "");
    setHidden(item, !operation.item);
    setHidden(row.querySelector("[data-field=item-empty]"), Boolean(operation.item));
  }

  function updatePager(page) {
    const pager = document.querySelector("[data-pager]");
    if (!pager || !page) {
      return;
    }
    const summary = pager.querySelector("[data-page-summary]");
    setText(summary, summary.textContent.replace(/^Page \d+ of \d+ · \d+/,
      "Page " + page.number + " of " + page.pages + " · " + page.total));
    for (const direction of ["newer", "older"]) {
      const link = pager.querySelector("[data-pager-link=" + direction + "]");
      setAttribute(link, "href", page[direction] || "#");
      setHidden(link, !page[direction]);
    }
  }

  function workerRow(worker) {
    const row = document.createElement("tr");
    row.dataset.worker = worker.worker;
    const name = document.createElement("td");
    name.className = "worker-name";
    name.textContent = worker.worker;
    const state = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "badge " + worker.state;
    badge.textContent = worker.label;
    state.append(badge);
    const beat = document.createElement("td");
    beat.textContent = worker.last_beat;
    row.append(name, state, beat);
    return row;
  }

  let shownWorkers = null;

  function updateOverview(overview) {
    for (const element of document.querySelectorAll("[data-overview]")) {
      setText(element, overview[element.dataset.overview]);
    }
    const tbody = document.querySelector("[data-workers]");
    const workers = JSON.stringify(overview.workers);
    if (tbody && workers !== shownWorkers) {
      tbody.replaceChildren(...overview.workers.map(workerRow));
      setHidden(document.querySelector("[data-workers-empty]"), overview.workers.length > 0);
      setHidden(tbody.closest("table"), overview.workers.length === 0);
      shownWorkers = workers;
    }
  }

  function applyList(data) {
    updateOverview(data.overview);
    reconcile(document.querySelector("[data-rows=bulks]"), data.bulks, "data-bulk-uuid",
      (bulk) => bulk.uuid, "bulk-row-template", updateBulkRow);
    setHidden(document.querySelector("[data-empty]"), data.bulks.length > 0);
    updatePager(data.page);
  }

  function applyBulk(data) {
    const bulk = data.bulk;
    const row = document.querySelector("[data-rows=bulk] tr[data-bulk-uuid]");
    if (row) {
      updateBulkRow(row, bulk);
    }
    for (const element of document.querySelectorAll("[data-bulk-field]")) {
      setText(element, bulk[element.dataset.bulkField]);
    }
    setHidden(document.querySelector("[data-when=failed]"), bulk.failed === 0);
    setHidden(document.querySelector("[data-when=finished]"), bulk.open > 0);
    setHidden(document.querySelector("[data-when=open]"), bulk.open === 0);
    reconcile(document.querySelector("[data-rows=operations]"), data.operations, "data-operation-id",
      (operation) => operation.id, "operation-row-template", updateOperationRow);
    setHidden(document.querySelector("[data-empty]"), data.operations.length > 0);
    updatePager(data.page);
  }

  function showState(state, text) {
    if (indicator) {
      indicator.classList.toggle("stale", state === "stale");
      indicator.classList.toggle("paused", state === "paused");
    }
    setText(indicatorText, text);
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    timer = null;
    if (inFlight) {
      return;
    }
    if (document.hidden) {
      showState("paused", "Paused while the tab is hidden");
      return; // resumed by visibilitychange
    }
    let next = idleMs;
    inFlight = true;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 401) {
        window.location.reload(); // the session ended: the page asks to sign in again
        return;
      }
      if (response.status === 404) {
        showState("stale", "This bulk no longer exists");
        return;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const data = await response.json();
      if ("overview" in data) {
        applyList(data);
      } else {
        applyBulk(data);
      }
      next = data.open ? openMs : idleMs;
      showState("live", "Live · updated " + new Date().toLocaleTimeString());
      live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
    } catch (error) {
      showState("stale", "Cannot reach the service; trying again");
      next = errorMs;
    } finally {
      inFlight = false;
    }
    schedule(next);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer === null) {
      poll();
    }
  });
  schedule(live.dataset.open === "1" ? openMs : idleMs);
})();
