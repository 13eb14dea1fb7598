/* /planifier: what-if siting on the map.
 *
 * Click the map (or type lon/lat or a place name, or pick a suggested site, a public
 * provider's site or a health facility found by name) to add a centre, or pick a public
 * provider to remove; the page asks /api/v1/whatif and shows the people newly
 * within the threshold, nationally and per unit, and colours the cercles that change.
 * Suggested sites come from /api/v1/site.  Nothing is stored in the browser.
 */
(function () {
  "use strict";

  var O = window.Orienter;
  var root = document.getElementById("whatif");
  if (!O || !root || !window.L) return;

  var node = document.getElementById("planning-messages");
  var MESSAGES = node ? JSON.parse(node.textContent) : {};
  var opts = {
    service: root.dataset.service,
    mode: root.dataset.mode,
    scenario: root.dataset.scenario,
    threshold: root.dataset.threshold,
    level: root.dataset.level,
  };
  var lang = root.dataset.lang || O.lang;
  var resultBox = document.getElementById("whatif-result");
  var sitesList = document.getElementById("sites-list");
  var sitesButton = document.getElementById("sites-load");
  var addForm = document.getElementById("whatif-add");
  var removeForm = document.getElementById("whatif-remove");
  var lonInput = document.getElementById("w-lon");
  var latInput = document.getElementById("w-lat");

  /** A planning message (keys ``js_*`` of web/locales/<lang>/planning.json). */
  function m(key, values) {
    return O.message(MESSAGES, key, values);
  }

  var intFormat = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", {
    maximumFractionDigits: 0,
  });
  var pctFormat = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", {
    style: "percent",
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  function people(n) { return intFormat.format(n); }
  function signed(n) { return (n > 0 ? "+" : n < 0 ? "−" : "") + intFormat.format(Math.abs(n)); }
  function thresholdText() {
    var t = Number(opts.threshold);
    return t < 60 ? t + " min" : t / 60 + " h";
  }

  function query(params) {
    var all = Object.assign(
      {
        service: opts.service,
        mode: opts.mode,
        scenario: opts.scenario,
        threshold_min: opts.threshold,
        lang: lang,
      },
      params
    );
    return Object.keys(all)
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(all[k]); })
      .join("&");
  }

  /** GET JSON; rejects with the API's message (``detail.message``). */
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(
      function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) {
            var d = body && body.detail;
            throw new Error((d && (d.message || d)) || String(r.status));
          }
          return body;
        });
      },
      function () { throw new Error(m("js_network")); }
    );
  }

  // ------------------------------------------------------------------ the map
  var base = O.baseMap("plan-map");
  var map = base.map;
  var unitsLayer = null;
  var unitsByCode = {};
  var added = L.layerGroup().addTo(map);
  var sitesLayer = L.layerGroup().addTo(map);
  var providersLayer = L.layerGroup().addTo(map);

  if (opts.level === "adm2") {
    fetch("/carte/limites/adm2.geojson")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (geojson) {
        if (!geojson) return;
        unitsLayer = L.geoJSON(geojson, {
          interactive: false,
          style: { color: "#888", weight: 0.6, fill: false },
          onEachFeature: function (f, layer) { unitsByCode[f.properties.pcode] = layer; },
        }).addTo(map);
      })
      .catch(function () {});
  }

  var providerUrl =
    opts.service === "one_stop_centre"
      ? "/api/v1/providers?type=one_stop_centre"
      : "/api/v1/providers?service=" + encodeURIComponent(opts.service);
  getJSON(providerUrl)
    .then(function (geojson) {
      (geojson.features || []).forEach(function (f) {
        if (!f.geometry) return;
        var c = f.geometry.coordinates;
        O.providerMarker(f.properties, [c[1], c[0]], { radius: 8 }).addTo(providersLayer);
      });
    })
    .catch(function () {});

  // ------------------------------------------------------------------ results
  function busy() {
    resultBox.innerHTML = '<p class="muted">' + O.escapeHtml(m("js_loading")) + "</p>";
  }

  function fail(error) {
    resultBox.innerHTML =
      '<p class="notice notice--danger">' +
      O.escapeHtml(m("js_error", { message: error.message })) + "</p>";
  }

  function colourUnits(units) {
    Object.keys(unitsByCode).forEach(function (code) {
      unitsByCode[code].setStyle({ color: "#888", weight: 0.6, fill: false });
    });
    units.forEach(function (u) {
      var layer = unitsByCode[u.pcode];
      if (!layer) return;
      var gain = u.change > 0;
      layer.setStyle({
        color: gain ? "#1b7a3d" : "#b3261e",
        weight: 2,
        fill: true,
        fillColor: gain ? "#1b7a3d" : "#b3261e",
        fillOpacity: 0.25,
      });
    });
  }

  /** What the answer says about the site picked (add_at, add_facility), as notices. */
  function pickedNotes(picked) {
    if (!picked) return "";
    var html = "";
    if (picked.approximate) {
      var key = "js_approx_" + picked.location_precision;
      var text = Object.prototype.hasOwnProperty.call(MESSAGES, key) ? m(key) : m("js_approx_other");
      html += '<p class="notice notice--warning whatif-approx">' + O.escapeHtml(text) + "</p>";
    }
    if (picked.offers_service) {
      html += '<p class="notice">' + O.escapeHtml(m("js_offers_already")) + "</p>";
    }
    return html;
  }

  function show(body, title) {
    var meta = body.meta;
    var html = "<h4>" + O.escapeHtml(title) + "</h4>" + pickedNotes(meta.picked);
    html +=
      '<p class="whatif-national">' +
      O.escapeHtml(
        m("js_national", {
          threshold: thresholdText(),
          before: people(meta.within_before),
          after: people(meta.within_after),
          change: signed(meta.change),
          share_before: pctFormat.format(meta.share_before),
          share_after: pctFormat.format(meta.share_after),
        })
      ) + "</p>";
    if (!body.units.length) {
      html += '<p class="notice">' + O.escapeHtml(m("js_no_change")) + "</p>";
    } else {
      html += '<div class="table-scroll"><table class="data-table"><caption>' +
        O.escapeHtml(m("js_units_heading")) + "</caption><thead><tr>" +
        "<th scope=\"col\">" + O.escapeHtml(m("js_col_unit")) + "</th>" +
        '<th scope="col" class="num">' + O.escapeHtml(m("js_col_before")) + "</th>" +
        '<th scope="col" class="num">' + O.escapeHtml(m("js_col_after")) + "</th>" +
        '<th scope="col" class="num">' + O.escapeHtml(m("js_col_change")) + "</th>" +
        "</tr></thead><tbody>";
      body.units.slice(0, 15).forEach(function (u) {
        html += "<tr><th scope=\"row\">" + O.escapeHtml(u.name) + "</th>" +
          '<td class="num">' + people(u.within_before) + "</td>" +
          '<td class="num">' + people(u.within_after) + "</td>" +
          '<td class="num">' + signed(u.change) + "</td></tr>";
      });
      html += "</tbody></table></div>";
    }
    html += '<p class="muted">' + O.escapeHtml(m("js_seconds", { seconds: meta.seconds })) + "</p>";
    resultBox.innerHTML = html;
    colourUnits(body.units);
  }

  function whatIfAdd(lon, lat, label) {
    added.clearLayers();
    L.circleMarker([lat, lon], {
      radius: 9, color: "#073f61", weight: 3, fillColor: "#f2a900", fillOpacity: 0.9,
    }).bindTooltip(label || m("js_added_marker")).addTo(added);
    busy();
    var where = lon.toFixed(5) + "," + lat.toFixed(5);
    getJSON("/api/v1/whatif?" + query({ add: where, level: opts.level }))
      .then(function (body) {
        show(body, label || m("js_result_add", { lon: lon.toFixed(3), lat: lat.toFixed(3) }));
      })
      .catch(fail);
  }

  map.on("click", function (e) {
    lonInput.value = e.latlng.lng.toFixed(4);
    latInput.value = e.latlng.lat.toFixed(4);
    whatIfAdd(e.latlng.lng, e.latlng.lat);
  });

  var placeInput = document.getElementById("w-place");
  var addError = document.getElementById("whatif-add-error");

  /** An error of the add form, in the page's language (never the browser's). */
  function addFailed(key) {
    addError.textContent = m(key);
    addError.hidden = false;
  }

  /** A decimal number as people type it: any number of decimals, a comma or a point. */
  function decimal(text) {
    var value = String(text).trim().replace(/\s/g, "").replace(",", ".");
    return /^[-+]?\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  }

  addForm.addEventListener("submit", function (e) {
    e.preventDefault();
    addError.hidden = true;
    var name = placeInput.value.trim();
    if (!lonInput.value.trim() && !latInput.value.trim()) {
      if (!name) { addFailed("js_need_point"); return; }
      // a place name: the settlement the finder would pick, said in the result's title
      getJSON("/api/v1/places?" + new URLSearchParams({ q: name, limit: "1" }).toString())
        .then(function (body) {
          var place = (body.results || [])[0];
          if (!place) { addFailed("js_place_none"); return; }
          var where = [place.adm3_name, place.adm2_name, place.adm1_name].filter(Boolean);
          where = where.filter(function (w, i) { return where.indexOf(w) === i; });
          var label = place.name + " (" + where.join(", ") + ")";
          whatIfAdd(place.lon, place.lat, m("js_place_result", { place: label }));
        })
        .catch(fail);
      return;
    }
    var lon = decimal(lonInput.value);
    var lat = decimal(latInput.value);
    if (!isFinite(lon) || !isFinite(lat)) { addFailed("js_bad_number"); return; }
    if (lon < -12.3 || lon > 4.3 || lat < 10.1 || lat > 25.0) {
      addFailed("js_outside_mali");
      return;
    }
    whatIfAdd(lon, lat);
  });

  // ------------------------------------------------------------------ existing sites
  var atForm = document.getElementById("whatif-at");
  var atSelect = document.getElementById("w-at");
  var facilityInput = document.getElementById("w-facility");
  var facilityList = document.getElementById("w-facility-list");
  var atError = document.getElementById("whatif-at-error");
  var facilityIds = {}; // suggestion label -> facility id
  var facilityTimer = null;

  function facilityLabel(f) {
    return f.adm1_name ? f.name + " (" + f.adm1_name + ")" : f.name;
  }

  /** A centre at an existing site: ``params`` is {add_at: id} or {add_facility: id}. */
  function whatIfAt(params, title) {
    added.clearLayers();
    busy();
    getJSON("/api/v1/whatif?" + query(Object.assign({ level: opts.level }, params)))
      .then(function (body) {
        var p = body.meta.picked;
        L.circleMarker([p.lat, p.lon], {
          radius: 9, color: "#073f61", weight: 3, fillColor: "#f2a900", fillOpacity: 0.9,
          dashArray: p.approximate ? "4 4" : null,
        }).bindTooltip(p.name).addTo(added);
        show(body, title(p));
      })
      .catch(fail);
  }

  if (atForm) {
    facilityInput.addEventListener("input", function () {
      if (facilityInput.value && atSelect) atSelect.value = "";
      clearTimeout(facilityTimer);
      var q = facilityInput.value.trim();
      if (q.length < 2 || facilityIds[q]) return;
      facilityTimer = setTimeout(function () {
        getJSON("/api/v1/facilities?" + new URLSearchParams({ q: q, limit: "8", lang: lang }))
          .then(function (body) {
            facilityList.innerHTML = "";
            (body.results || []).forEach(function (f) {
              var option = document.createElement("option");
              option.value = facilityLabel(f);
              facilityIds[option.value] = f.id;
              facilityList.appendChild(option);
            });
          })
          .catch(function () {});
      }, 150);
    });
    if (atSelect) {
      atSelect.addEventListener("change", function () {
        if (atSelect.value) facilityInput.value = "";
      });
    }
    atForm.addEventListener("submit", function (e) {
      e.preventDefault();
      atError.hidden = true;
      var text = facilityInput.value.trim();
      if (text) {
        var known = facilityIds[text];
        var found = known ? Promise.resolve(known)
          : getJSON("/api/v1/facilities?" + new URLSearchParams({ q: text, limit: "1", lang: lang }))
            .then(function (body) {
              var first = (body.results || [])[0];
              return first ? first.id : null;
            });
        found.then(function (id) {
          if (!id) {
            atError.textContent = m("js_facility_none");
            atError.hidden = false;
            return;
          }
          whatIfAt({ add_facility: id }, function (p) {
            return m("js_facility_result", { name: p.name });
          });
        }).catch(fail);
        return;
      }
      if (!atSelect || !atSelect.value) {
        atError.textContent = m("js_need_site");
        atError.hidden = false;
        return;
      }
      whatIfAt({ add_at: atSelect.value }, function (p) {
        return m("js_at_result", { name: p.name });
      });
    });
  }

  if (removeForm) {
    removeForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var select = document.getElementById("w-remove");
      if (!select) return;
      var name = select.options[select.selectedIndex].text;
      added.clearLayers();
      busy();
      getJSON("/api/v1/whatif?" + query({ remove: select.value, level: opts.level }))
        .then(function (body) { show(body, m("js_result_remove", { name: name })); })
        .catch(fail);
    });
  }

  // ------------------------------------------------------------------ suggested sites
  sitesButton.addEventListener("click", function () {
    sitesButton.disabled = true;
    sitesList.innerHTML = '<li class="muted">' + O.escapeHtml(m("js_loading")) + "</li>";
    getJSON("/api/v1/site?" + query({ n: 5 }))
      .then(function (body) {
        sitesList.innerHTML = "";
        sitesLayer.clearLayers();
        if (!body.sites.length) {
          sitesList.innerHTML = '<li class="muted">' + O.escapeHtml(m("js_sites_none")) + "</li>";
          return;
        }
        body.sites.forEach(function (s) {
          var li = document.createElement("li");
          li.innerHTML =
            "<strong>" + O.escapeHtml(s.name) + "</strong> " +
            '<span class="muted">' + O.escapeHtml(m("js_site_gain", { gain: people(s.gain_population) })) +
            "</span> ";
          var button = document.createElement("button");
          button.type = "button";
          button.className = "button button--secondary button--small";
          button.textContent = m("js_site_try");
          button.setAttribute("aria-label", m("js_site_try") + " : " + s.name);
          button.addEventListener("click", function () {
            lonInput.value = s.lon;
            latInput.value = s.lat;
            whatIfAdd(s.lon, s.lat, s.name);
            map.setView([s.lat, s.lon], Math.max(map.getZoom(), 7));
          });
          li.appendChild(button);
          sitesList.appendChild(li);
          L.marker([s.lat, s.lon], {
            icon: L.divIcon({ className: "site-marker", html: String(s.step), iconSize: [22, 22] }),
            title: m("js_site_marker", { step: s.step }) + " : " + s.name,
            keyboard: false,
          }).addTo(sitesLayer);
        });
      })
      .catch(function (error) {
        sitesList.innerHTML = '<li class="notice notice--danger">' +
          O.escapeHtml(m("js_error", { message: error.message })) + "</li>";
      })
      .then(function () { sitesButton.disabled = false; });
  });
})();
