/* The caseworker's finder: place autocomplete (ARIA combobox), nearest providers with
 * routes, conflict warnings, and the printable referral sheet.
 *
 * Privacy: the query lives in this page only.  Nothing is written to localStorage or
 * cookies; the optional caseworker token is kept in sessionStorage (this tab only) and
 * sent as "Authorization: Bearer".  The referral sheet says which place the times were
 * computed from (a settlement's name, or a point's coordinates rounded to 0.01 degree),
 * unless "Do not print the starting place" is ticked: then it says it was left off.
 */
(function () {
  "use strict";
  var O = window.Orienter;
  var t = O.t;
  var TOKEN_KEY = "orienter.caseworkerToken";
  // The API's English phrases for scenario effects and unreachable providers, to messages
  // (an unknown phrase is shown as it is).
  var EFFECTS = {
    "unreachable: the point itself lies in a closed high-conflict zone": "effect_closed_origin",
    "unreachable: every route crosses a closed high-conflict zone": "effect_closed_routes",
    "unreachable in the baseline too": "effect_unreachable_baseline",
    "rerouted around the high-conflict zone": "effect_rerouted",
    "slower through conflict zones": "effect_slower",
    "unchanged": "effect_unchanged",
  };
  var REASONS = {
    "the point lies in an area closed under this scenario (high conflict zone)": "reason_closed_origin",
    "no path: the area is cut off from this provider under this scenario": "reason_cut_off",
  };
  var ROUTE_COLOURS = ["#0b5c8c", "#6a3d9a", "#1b7a3d", "#b35806", "#4d4d4d"];

  var form = document.getElementById("finder");
  var input = document.getElementById("place");
  var list = document.getElementById("place-list");
  var status = document.getElementById("finder-status");
  var results = document.getElementById("results");
  var resultList = document.getElementById("result-list");
  var offroad = document.getElementById("results-offroad");
  var placeNote = document.getElementById("results-place");
  var modelNote = document.getElementById("results-model");
  var linesBox = document.getElementById("national-lines");
  var referralList = document.getElementById("referral-list");
  var searchButton = document.getElementById("search");
  var tokenInput = document.getElementById("token");

  var base = O.baseMap("finder-map");
  var map = base.map;
  // provider markers above the routes, so a route never hides a marker from a click
  map.createPane("providers");
  map.getPane("providers").style.zIndex = 450;
  var answerLayer = L.featureGroup().addTo(map);
  var startMarker = null;
  var chosen = null; // {place: pcode} from the list, or {lat, lon} from the map
  var options = [];
  var active = -1;
  var suggestTimer = null;
  var suggestSeq = 0;
  var searchSeq = 0;
  var shown = []; // {result, marker, route} of the answer on screen
  var lastData = {}; // the answer's data: the model's assumptions and the national lines
  var lastQuery = {}; // the answer's query: the place or point the times start from

  // ---------------------------------------------------------------- caseworker token
  try {
    tokenInput.value = window.sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (e) { /* storage disabled: the field still works for this page */ }
  tokenInput.addEventListener("input", function () {
    try {
      if (tokenInput.value) window.sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* ignore */ }
  });
  document.getElementById("token-forget").addEventListener("click", function () {
    tokenInput.value = "";
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
  });

  // ---------------------------------------------------------------- autocomplete
  function optionLabel(place) {
    var where = [place.adm2_name, place.adm1_name].filter(Boolean);
    if (where.length === 2 && where[0] === where[1]) where = [where[0]];
    return where.join(", ");
  }

  function closeList() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function setActive(index) {
    var items = list.querySelectorAll('[role="option"]:not([aria-disabled="true"])');
    if (!items.length) return;
    active = (index + items.length) % items.length;
    items.forEach(function (item, i) {
      item.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    input.setAttribute("aria-activedescendant", items[active].id);
    items[active].scrollIntoView({ block: "nearest" });
  }

  function showOptions(found) {
    options = found;
    list.innerHTML = "";
    if (!found.length) {
      var none = document.createElement("li");
      none.textContent = t("place_none");
      none.setAttribute("role", "option");
      none.setAttribute("aria-disabled", "true");
      none.className = "muted";
      list.appendChild(none);
    }
    found.forEach(function (place, i) {
      var item = document.createElement("li");
      item.id = "place-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.innerHTML = O.escapeHtml(place.name) +
        ' <span class="muted">' + O.escapeHtml(optionLabel(place)) + "</span>";
      item.addEventListener("mousedown", function (event) { event.preventDefault(); });
      item.addEventListener("click", function () { pick(i); });
      list.appendChild(item);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  function pick(index) {
    var place = options[index];
    if (!place) return;
    input.value = place.name;
    chosen = { place: place.pcode };
    showCircuit(place);
    closeList();
    input.focus();
  }

  // the referral pathway of the picked place's cercle (/circuits/<adm2 P-code>)
  function showCircuit(place) {
    var link = document.getElementById("circuit-link");
    if (!link || !place.adm2_pcode) return;
    link.href = "/circuits/" + encodeURIComponent(place.adm2_pcode);
    link.textContent = link.getAttribute("data-template").replace("{cercle}", place.adm2_name || place.adm2_pcode);
    link.hidden = false;
  }

  function suggest() {
    var q = input.value.trim();
    if (q.length < 2) { closeList(); return; }
    var seq = ++suggestSeq;
    O.getJSON("/api/v1/places?limit=8&q=" + encodeURIComponent(q)).then(function (body) {
      if (seq === suggestSeq && document.activeElement === input) showOptions(body.results || []);
    }).catch(function () { if (seq === suggestSeq) closeList(); });
  }

  input.addEventListener("input", function () {
    chosen = null;
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, 120);
  });
  input.addEventListener("keydown", function (event) {
    var open = !list.hidden;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open) { suggest(); return; }
      setActive(active + 1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (open) setActive(active - 1);
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        pick(active);
      } else {
        closeList();
      }
    } else if (event.key === "Escape") {
      if (open) { event.preventDefault(); closeList(); }
    } else if (event.key === "Tab") {
      closeList();
    }
  });
  input.addEventListener("blur", function () { setTimeout(closeList, 150); });

  // ---------------------------------------------------------------- map click
  map.on("click", function (event) {
    chosen = { lat: event.latlng.lat, lon: event.latlng.lng };
    input.value = t("place_point");
    closeList();
    search();
  });

  // ---------------------------------------------------------------- search
  function queryString() {
    var data = new FormData(form);
    var params = new URLSearchParams();
    if (chosen && chosen.place) params.set("place", chosen.place);
    else if (chosen && chosen.lat !== undefined) {
      params.set("lat", chosen.lat.toFixed(5));
      params.set("lon", chosen.lon.toFixed(5));
    } else if (input.value.trim()) params.set("place", input.value.trim());
    else return null;
    if (data.get("service")) params.set("service", data.get("service"));
    params.set("mode", data.get("mode"));
    params.set("scenario", data.get("scenario"));
    params.set("k", "5");
    params.set("routes", "true");
    return params.toString();
  }

  function search(startedAt) {
    var started = startedAt || performance.now();
    var qs = queryString();
    if (!qs) {
      status.textContent = t("error_no_place");
      input.focus();
      return;
    }
    var seq = ++searchSeq;
    var headers = {};
    if (tokenInput.value) headers.Authorization = "Bearer " + tokenInput.value;
    status.textContent = t("searching");
    searchButton.disabled = true;
    O.getJSON("/api/v1/nearest?" + qs, headers).then(function (body) {
      if (seq !== searchSeq) return;
      showAnswer(body);
      // submit -> answer painted (two frames later), read by the browser test
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          results.dataset.answerMs = String(Math.round(performance.now() - started));
        });
      });
    }).catch(function (error) {
      if (seq !== searchSeq) return;
      status.textContent = error.status
        ? t("error_server", { message: error.message })
        : t("error_network");
    }).then(function () {
      searchButton.disabled = false;
    });
  }

  form.addEventListener("submit", function (event) {
    var started = performance.now();
    event.preventDefault();
    closeList();
    search(started);
  });

  // ---------------------------------------------------------------- answer
  function conflictWarnings(result) {
    var html = "";
    var conflict = result.route_conflict;
    if (conflict && (conflict.worst_class === "high" || conflict.worst_class === "elevated")) {
      var level = conflict.worst_class;
      var km = conflict.km_by_class || {};
      var inside = (km.high || 0) + (level === "elevated" ? km.elevated || 0 : 0);
      var css = level === "high" ? "notice notice--danger" : "notice notice--warning";
      var text = inside > 0
        ? t("conflict_warning_" + level, { km: O.formatKm(inside) })
        : t("conflict_warning_place", { level: t("class_" + level) });
      html += '<p class="' + css + '" role="note">' + O.escapeHtml(text) + "</p>";
    }
    (result.time_flags || []).forEach(function (flag) {
      var note = flag === "offroad" ? t("flag_offroad", { km: O.formatKm(result.offroad_km) })
        : flag === "detour" ? t("flag_detour", { straight: O.formatKm(result.straight_km) })
          : flag;
      html += '<p class="notice notice--warning flag" role="note">' + O.escapeHtml(note) + "</p>";
    });
    if (result.scenario_effect && result.scenario_effect !== "unchanged") {
      var effect = EFFECTS[result.scenario_effect] ? t(EFFECTS[result.scenario_effect])
        : result.scenario_effect;
      if (result.baseline_travel_time_min !== null && result.baseline_travel_time_min !== undefined) {
        effect += " " + t("effect_baseline", { time: O.formatMinutes(result.baseline_travel_time_min) });
      }
      html += '<p class="notice notice--warning">' +
        O.escapeHtml(t("scenario_effect", { effect: effect })) + "</p>";
    }
    return html;
  }

  function datedText(result) {
    var when = result.last_verified || result.source_date;
    return when === "undated" ? t("popup_undated") : when;
  }

  /** ``result`` with its display fields in the page's language (the directory's English
   * where it has one; French otherwise). */
  function inLanguage(result) {
    if (O.lang !== "en") return result;
    var out = Object.assign({}, result);
    ["name", "town", "address", "opening_hours"].forEach(function (field) {
      if (result[field + "_en"]) out[field] = result[field + "_en"];
    });
    return out;
  }

  /** What the times mean (the speed model and season), then what the model assumes: the
   * scenario and the conflict events' dates. */
  function modelText(data) {
    var meaning = (data.time_meaning && data.time_meaning[O.lang]) || "";
    var lead = meaning ? t("time_meaning", { meaning: meaning }) : "";
    var assumes = data.scenario_assumes && data.scenario_assumes[O.lang];
    var window = data.conflict;
    var rest = assumes || (window ? t("conflict_window", {
      start: window.start, end: window.end, source: window.source ? " (" + window.source + ")" : "",
    }) : ""); // the scenario's line names the events' dates already
    return [lead, rest].filter(Boolean).join(" ");
  }

  function placeText(place) {
    var where = [place.adm3 || place.adm3_name, place.adm2 || place.adm2_name,
      place.adm1 || place.adm1_name].filter(Boolean);
    where = where.filter(function (w, i) { return where.indexOf(w) === i; });
    return place.name + " (" + where.join(", ") + ")";
  }

  function showPlace(query) {
    var place = query.place;
    placeNote.innerHTML = "";
    placeNote.hidden = !place;
    if (!place) return;
    placeNote.appendChild(document.createTextNode(t("place_used", { place: placeText(place) })));
    var others = query.place_alternatives || [];
    if (!others.length) return;
    placeNote.appendChild(document.createTextNode(" " + t("place_others") + " "));
    others.forEach(function (other, i) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button button--link place-other";
      button.textContent = placeText(other);
      button.addEventListener("click", function () {
        input.value = other.name;
        chosen = { place: other.pcode };
        search();
      });
      if (i) placeNote.appendChild(document.createTextNode(" · "));
      placeNote.appendChild(button);
    });
  }

  function statusText(status) {
    var label = t("status_" + status);
    return label === "status_" + status ? String(status || "") : label;
  }

  function linesHtml(lines) {
    return lines.map(function (raw) {
      var line = inLanguage(raw);
      var dated = line.last_verified || line.source_date;
      var when = !dated || dated === "undated"
        ? t("line_undated", { status: statusText(line.status) })
        : t("line_dated", { status: statusText(line.status), date: dated });
      var hours = line.opening_hours ? " — " + line.opening_hours : "";
      return "<li><strong>" + O.escapeHtml(line.phone) + "</strong> : " +
        O.escapeHtml(line.name + hours) + ' <span class="muted">(' + O.escapeHtml(when) + ")</span></li>";
    }).join("");
  }

  function showLines(data) {
    var block = data.national_lines || { lines: [] };
    linesBox.hidden = !block.lines.length;
    linesBox.querySelector("ul").innerHTML = linesHtml(block.lines);
    linesBox.querySelector(".national-lines__caveat").textContent =
      (block.caveat && block.caveat[O.lang]) || "";
    return block;
  }

  function timeText(result) {
    if (!result.reachable) return t("result_unreachable");
    if (result.same_site) return t("result_on_site");
    return O.formatMinutes(result.travel_time_min);
  }

  /** The <dl> of a result; with ``modeLabel``, its distance or why it is unreachable too
   * (the referral sheet says the travel in a line of its own). */
  function detailRows(result, modeLabel) {
    var list = O.definitionList();
    var row = list.row;
    row(t("result_type"), t("type_" + result.type));
    if (modeLabel !== undefined) {
      if (result.reachable) {
        row(t("result_distance"), O.formatKm(result.distance_km) + " (" + modeLabel + ")");
      } else if (!EFFECTS[result.scenario_effect]) { // else the scenario effect says it already
        var reason = result.unreachable_reason;
        row(t("result_unreachable"), REASONS[reason] ? t(REASONS[reason]) : reason);
      }
    }
    row(t("popup_services"), O.labelList("service_", result.services));
    row(t("popup_address"), [result.address, result.town].filter(Boolean).join(", "));
    row(t("popup_phone"), result.phone || t("result_phone_missing"));
    row(t("popup_hours"), result.opening_hours || t("popup_unknown"));
    row(t("popup_languages"), result.languages);
    row(t("popup_status"), statusText(result.status) +
      (result.status_date ? " (" + result.status_date + ")" : ""));
    row(t("popup_precision"), O.precisionText(result.location_precision));
    row(t("popup_checked"), datedText(result));
    return list.html();
  }

  function showAnswer(body) {
    var query = body.query || {};
    var found = body.results || [];
    var modeSelect = document.getElementById("mode");
    var scenarioSelect = document.getElementById("scenario");
    var modeLabel = modeSelect.options[modeSelect.selectedIndex].text;
    var scenarioLabel = scenarioSelect.options[scenarioSelect.selectedIndex].text;
    answerLayer.clearLayers();
    if (startMarker) { map.removeLayer(startMarker); startMarker = null; }
    shown = [];
    resultList.innerHTML = "";

    if (query.lat !== undefined && query.lat !== null) {
      startMarker = L.circleMarker([query.lat, query.lon], {
        radius: 7, color: "#000", weight: 2, fillColor: "#f2a900", fillOpacity: 1, pane: "providers",
      }).bindTooltip(t("map_start")).addTo(map);
    }
    var closed = document.getElementById("results-closed");
    closed.hidden = query.snapped_to !== "closed area";
    if (query.road_km) { // to the road's line, not to a grid cell's centre
      offroad.textContent = t("result_offroad", {
        km: O.formatKm(query.road_km),
        minutes: O.formatMinutes(query.road_offroad_min),
      });
      offroad.hidden = false;
    } else {
      offroad.hidden = true;
    }
    showPlace(query);
    lastQuery = query;
    lastData = body.data || {};
    modelNote.textContent = modelText(lastData);
    modelNote.hidden = !modelNote.textContent;
    showLines(lastData);

    found.forEach(function (raw, i) {
      var result = inLanguage(raw);
      var colour = ROUTE_COLOURS[i % ROUTE_COLOURS.length];
      var route = null;
      if (result.route && result.route.coordinates && result.route.coordinates.length > 1) {
        route = L.polyline(result.route.coordinates.map(function (c) { return [c[1], c[0]]; }), {
          color: colour, weight: i === 0 ? 5 : 3, opacity: i === 0 ? 0.9 : 0.6,
        }).addTo(answerLayer);
      }
      var marker = null;
      if (result.lat !== null && result.lat !== undefined) {
        var extra = '<p class="result__time">' + O.escapeHtml(timeText(result)) + "</p>";
        marker = O.providerMarker(result, [result.lat, result.lon], { extra: extra, pane: "providers" });
        marker.addTo(answerLayer);
      }
      shown.push({ result: result, marker: marker, route: route });

      var item = document.createElement("li");
      item.className = "result";
      item.dataset.index = String(i);
      item.innerHTML =
        "<h3>" + O.escapeHtml(result.name) + "</h3>" +
        '<p class="result__time">' + O.escapeHtml(timeText(result)) + "</p>" +
        conflictWarnings(result) +
        detailRows(result, modeLabel) +
        '<div class="actions">' +
        '<label><input type="checkbox" class="include"' + (i === 0 ? " checked" : "") + "> " +
        O.escapeHtml(t("result_include")) + "</label>" +
        '<button type="button" class="button button--secondary show-on-map">' +
        O.escapeHtml(t("result_show")) + "</button></div>";
      item.querySelector(".show-on-map").addEventListener("click", function () { focusResult(i); });
      item.querySelector(".include").addEventListener("change", buildReferral);
      resultList.appendChild(item);
    });

    status.textContent = found.length
      ? t("results_count", { count: found.length, mode: modeLabel, scenario: scenarioLabel })
      : t("results_none");
    results.hidden = false;
    buildReferral();
    var bounds = answerLayer.getBounds();
    if (startMarker) bounds.extend(startMarker.getLatLng());
    if (bounds.isValid()) {
      map.orienterFitted = true; // the answer's extent wins over the country's
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 11, animate: false });
    }
  }

  function focusResult(index) {
    var entry = shown[index];
    if (!entry) return;
    resultList.querySelectorAll(".result").forEach(function (item, i) {
      if (i === index) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
    });
    shown.forEach(function (other, i) {
      if (other.route) other.route.setStyle({ weight: i === index ? 6 : 3, opacity: i === index ? 0.95 : 0.4 });
    });
    if (entry.route) entry.route.bringToFront();
    if (entry.marker) {
      var target = entry.route ? entry.route.getBounds().extend(entry.marker.getLatLng()) : null;
      if (target && target.isValid()) {
        map.fitBounds(target, { padding: [30, 30], maxZoom: 12, animate: false });
      }
      entry.marker.openPopup();
    }
    document.getElementById("finder-map").scrollIntoView({ block: "nearest" });
  }

  // ---------------------------------------------------------------- referral sheet
  /** Degrees rounded to 0.01 in the page's language (a typed or clicked point). */
  function roundedDegrees(value) {
    return new Intl.NumberFormat(O.lang === "en" ? "en-GB" : "fr-FR", {
      minimumFractionDigits: 2, maximumFractionDigits: 2,
    }).format(value);
  }

  /** Where the sheet's times start from, or that it is left off on purpose. */
  function referralPlace() {
    if (document.getElementById("sheet-no-place").checked) return t("referral_place_omitted");
    if (lastQuery.place) return t("referral_place", { place: placeText(lastQuery.place) });
    if (lastQuery.lat !== undefined && lastQuery.lat !== null) {
      return t("referral_point", {
        lat: roundedDegrees(lastQuery.lat), lon: roundedDegrees(lastQuery.lon),
      });
    }
    return "";
  }

  function buildReferral() {
    document.getElementById("referral-place").textContent = referralPlace();
    var modeSelect = document.getElementById("mode");
    var modeLabel = modeSelect.options[modeSelect.selectedIndex].text;
    var parts = [];
    resultList.querySelectorAll(".result").forEach(function (item, i) {
      if (!item.querySelector(".include").checked) return;
      var r = shown[i].result;
      var travel = !r.reachable ? t("result_unreachable")
        : r.same_site ? t("referral_on_site")
          : t("referral_travel", {
            time: O.formatMinutes(r.travel_time_min),
            mode: modeLabel,
            distance: O.formatKm(r.distance_km),
          });
      parts.push('<article class="result"><h2>' + O.escapeHtml(r.name) + "</h2>" +
        "<p><strong>" + O.escapeHtml(travel) + "</strong></p>" +
        conflictWarnings(r) + detailRows(r) + "</article>");
    });
    referralList.innerHTML = parts.length ? parts.join("")
      : "<p>" + O.escapeHtml(t("referral_empty")) + "</p>";
    // what the times assume, and the national numbers with their caveat
    var model = modelText(lastData);
    document.getElementById("referral-notes").innerHTML = model
      ? '<p class="muted">' + O.escapeHtml(model) + "</p>" : "";
    var block = lastData.national_lines || { lines: [] };
    document.getElementById("referral-lines").innerHTML = block.lines.length
      ? "<h2>" + O.escapeHtml(t("national_lines_title")) + "</h2><ul>" + linesHtml(block.lines) +
        '</ul><p class="muted">' + O.escapeHtml((block.caveat && block.caveat[O.lang]) || "") + "</p>"
      : "";
  }

  document.getElementById("print-sheet").addEventListener("click", function () {
    buildReferral();
    window.print();
  });
  document.getElementById("sheet-no-place").addEventListener("change", buildReferral);
  window.addEventListener("beforeprint", buildReferral);
})();
