/* Orienter pages: messages, number and time formats, the base map and provider markers.
 *
 * Everything here is served by the app (no CDN).  Nothing about a search is stored in
 * the browser: no cookie, no localStorage; only the caseworker token, in sessionStorage
 * (this tab only), when the caseworker types one.
 */
(function () {
  "use strict";

  var node = document.getElementById("messages");
  var MESSAGES = node ? JSON.parse(node.textContent) : {};
  var LANG = document.documentElement.lang || "fr";
  var TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  var EXACT = { exact: true, facility: true };
  var TYPE_COLOURS = {
    one_stop_centre: "#b3261e",
    ngo: "#0b5c8c",
    network: "#1b7a3d",
    legal_clinic: "#6a3d9a",
    health_facility: "#e66101",
    government: "#4d4d4d",
    un_agency: "#1f78b4",
    hotline: "#8c510a",
    other: "#666666",
  };

  /** The message ``key`` of ``messages`` (else the key itself), with {name} placeholders
   * filled from ``values``. */
  function message(messages, key, values) {
    var text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
      });
    }
    return text;
  }

  /** The message ``key`` of the page language, with {name} placeholders filled. */
  function t(key, values) {
    return message(MESSAGES, key, values);
  }

  function escapeHtml(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  var numberFormat = new Intl.NumberFormat(LANG === "fr" ? "fr-FR" : "en-GB", {
    maximumFractionDigits: 1,
  });
  var intFormat = new Intl.NumberFormat(LANG === "fr" ? "fr-FR" : "en-GB", {
    maximumFractionDigits: 0,
  });
  var percentFormat = new Intl.NumberFormat(LANG === "fr" ? "fr-FR" : "en-GB", {
    style: "percent",
    maximumFractionDigits: 0,
  });

  /** Minutes as "2 h 05 min" or "45 min". */
  function formatMinutes(minutes) {
    if (minutes === null || minutes === undefined || !isFinite(minutes)) return "";
    var total = Math.round(minutes);
    if (total < 60) return t("time_m", { m: total });
    var m = total % 60;
    return t("time_hm", { h: Math.floor(total / 60), m: m < 10 ? "0" + m : m });
  }

  function formatKm(km) {
    return km === null || km === undefined ? "" : numberFormat.format(km) + "\u202fkm";
  }

  function isApproximate(precision) {
    return !EXACT[precision];
  }

  function precisionText(precision) {
    return t("precision_" + (precision || "none"));
  }

  function labelList(prefix, values) {
    return (values || []).map(function (v) { return t(prefix + v); }).join(", ");
  }

  /** A <dl> built row by row: ``row(label, value)`` skips an empty value, ``html()`` gives
   * the list. */
  function definitionList() {
    var rows = [];
    return {
      row: function (label, value) {
        if (value === null || value === undefined || value === "") return;
        rows.push("<dt>" + escapeHtml(label) + "</dt><dd>" + escapeHtml(value) + "</dd>");
      },
      html: function () { return "<dl>" + rows.join("") + "</dl>"; },
    };
  }

  /** Popup HTML of a provider (properties of /api/v1/providers or a nearest result). */
  function providerPopup(p, extra) {
    var list = definitionList();
    var row = list.row;
    row(t("result_type"), t("type_" + p.type));
    row(t("popup_services"), labelList("service_", p.services));
    row(t("popup_address"), [p.address, p.town].filter(Boolean).join(", "));
    row(t("popup_phone"), p.phone || t("popup_unknown"));
    row(t("popup_hours"), p.opening_hours || t("popup_unknown"));
    row(t("popup_languages"), p.languages);
    var sources = Array.isArray(p.source) ? p.source : p.source ? [p.source] : [];
    var when = p.source_date ? " (" + p.source_date + ")" : "";
    if (sources.length) row(t("popup_source"), sources[0] + when);
    var html = '<h3 class="popup-name">' + escapeHtml(p.name) + "</h3>";
    if (extra) html += extra;
    html += list.html();
    html +=
      '<p class="' + (isApproximate(p.location_precision) ? "popup-precision" : "") + '">' +
      escapeHtml(t("popup_precision_line", { precision: precisionText(p.location_precision) })) + "</p>";
    return html;
  }

  /** A provider on the map: a pin when exactly located, a dashed circle when approximate. */
  function providerMarker(p, latlng, options) {
    var colour = TYPE_COLOURS[p.type] || TYPE_COLOURS.other;
    var layer;
    if (isApproximate(p.location_precision)) {
      layer = L.circleMarker(latlng, {
        radius: (options && options.radius) || 11,
        color: colour,
        weight: 2.5,
        dashArray: "5 4",
        fillColor: colour,
        fillOpacity: 0.12,
        className: "provider-marker provider-marker--approx",
        pane: (options && options.pane) || "overlayPane",
      });
    } else {
      layer = L.marker(latlng, { title: p.name, alt: p.name, keyboard: true });
    }
    layer.bindPopup(providerPopup(p, options && options.extra), { maxWidth: 300 });
    if (layer.bindTooltip) layer.bindTooltip(p.name, { direction: "top" });
    return layer;
  }

  /** A Leaflet map of Mali: OSM tiles when online, région boundaries always (below the
   * tiles, so they are the base map when the tiles cannot load). */
  function baseMap(elementId) {
    var map = L.map(elementId, { zoomSnap: 0.5 }).setView([17.4, -3.5], 5);
    map.createPane("basemap");
    map.getPane("basemap").style.zIndex = 150;
    L.control.scale({ imperial: false }).addTo(map);
    var tiles = L.tileLayer(TILE_URL, {
      maxZoom: 18,
      attribution: "© OpenStreetMap",
    });
    var tileErrors = 0;
    tiles.on("tileerror", function () {
      tileErrors += 1;
      if (tileErrors !== 1) return;
      // one short line in the attribution, so it never hides the map on a phone
      map.attributionControl.addAttribution(
        '<span class="map-offline-note" title="' + escapeHtml(t("map_tiles_offline")) + '">' +
        escapeHtml(t("map_tiles_offline_short")) + "</span>"
      );
    });
    tiles.addTo(map);
    var regions = L.layerGroup().addTo(map);
    fetch("/carte/limites/adm1.geojson")
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (geojson) {
        if (!geojson) return;
        var land = L.geoJSON(geojson, {
          pane: "basemap",
          interactive: false,
          style: { color: "#8a8170", weight: 1, fillColor: "#f2efe6", fillOpacity: 1 },
        }).addTo(regions);
        if (!map.orienterFitted) map.fitBounds(land.getBounds(), { animate: false });
        L.geoJSON(geojson, {
          interactive: false,
          style: { color: "#555", weight: 1.2, fill: false },
        }).addTo(regions);
      })
      .catch(function () {});
    return { map: map, tiles: tiles, regions: regions };
  }

  /** GET a JSON API URL; rejects with the server's message on an error status. */
  function getJSON(url, headers) {
    var sent = Object.assign({ "Accept-Language": LANG }, headers || {});
    return fetch(url, { headers: sent, credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) {
          // the API's one error shape: {detail: {code, message, parameter}}, in the page language
          var detail = body && (body.detail || body.message || body.error);
          if (detail && typeof detail === "object" && detail.message) detail = detail.message;
          if (detail && typeof detail !== "string") detail = JSON.stringify(detail);
          var error = new Error(detail || String(r.status));
          error.status = r.status;
          throw error;
        }
        return body;
      });
    });
  }

  window.Orienter = {
    t: t,
    message: message,
    lang: LANG,
    escapeHtml: escapeHtml,
    formatMinutes: formatMinutes,
    formatKm: formatKm,
    formatInt: function (n) { return intFormat.format(n); },
    formatPercent: function (s) { return percentFormat.format(s); },
    isApproximate: isApproximate,
    precisionText: precisionText,
    labelList: labelList,
    definitionList: definitionList,
    providerPopup: providerPopup,
    providerMarker: providerMarker,
    typeColour: function (type) { return TYPE_COLOURS[type] || TYPE_COLOURS.other; },
    baseMap: baseMap,
    getJSON: getJSON,
  };
})();
