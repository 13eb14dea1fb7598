/* The overview page: public providers and the coverage choropleth by région. */
(function () {
  "use strict";
  var O = window.Orienter;
  var t = O.t;
  var form = document.getElementById("overview-filters");
  var status = document.getElementById("overview-status");
  var base = O.baseMap("overview-map");
  var map = base.map;
  // Blue (well covered) to red (poorly covered), six classes of the share within.
  var BREAKS = [0.2, 0.4, 0.6, 0.8, 0.95];
  var COLOURS = ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"];
  var coverage = L.geoJSON(null).addTo(map);
  var providers = L.markerClusterGroup
    ? L.markerClusterGroup({ maxClusterRadius: 30, showCoverageOnHover: false })
    : L.layerGroup();
  providers.addTo(map);
  L.control
    .layers(null, (function () {
      var overlays = {};
      overlays[t("map_layer_coverage")] = coverage;
      overlays[t("map_layer_providers")] = providers;
      overlays[t("map_layer_regions")] = base.regions;
      return overlays;
    })(), { collapsed: true })
    .addTo(map);

  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "legend");
    return this._div;
  };
  legend.addTo(map);

  function colourFor(share) {
    if (share === null || share === undefined) return "#eeeeee";
    for (var i = 0; i < BREAKS.length; i += 1) if (share < BREAKS[i]) return COLOURS[i];
    return COLOURS[COLOURS.length - 1];
  }

  function thresholdText(minutes) {
    return t("threshold_" + minutes);
  }

  function drawLegend(minutes, withCoverage) {
    var html = "";
    if (withCoverage) {
      html += "<h3>" + O.escapeHtml(t("map_legend_coverage", { threshold: thresholdText(minutes) })) + "</h3>";
      var lower = 0;
      for (var i = 0; i < COLOURS.length; i += 1) {
        var upper = i < BREAKS.length ? BREAKS[i] : 1;
        html += '<div><i class="swatch-' + i + '"></i>' + O.formatPercent(lower) + " – " +
          O.formatPercent(upper) + "</div>";
        lower = upper;
      }
    }
    html += '<div><i class="swatch-pin"></i>' + O.escapeHtml(t("map_legend_exact")) + "</div>";
    html += '<div><i class="swatch-circle"></i>' + O.escapeHtml(t("map_legend_approx")) + "</div>";
    legend._div.innerHTML = html;
  }

  function params() {
    var data = new FormData(form);
    return {
      service: data.get("service"),
      mode: data.get("mode"),
      scenario: data.get("scenario"),
      threshold: data.get("threshold"),
    };
  }

  function loadCoverage(p) {
    var url = "/carte/couverture.geojson?level=adm1&service=" + encodeURIComponent(p.service) +
      "&mode=" + encodeURIComponent(p.mode) + "&scenario=" + encodeURIComponent(p.scenario);
    return O.getJSON(url).then(function (geojson) {
      coverage.clearLayers();
      var key = "share_within_" + p.threshold;
      coverage.options.style = function (feature) {
        return {
          color: "#444",
          weight: 1,
          fillColor: colourFor(feature.properties[key]),
          fillOpacity: 0.6,
        };
      };
      coverage.options.onEachFeature = function (feature, layer) {
        var share = feature.properties[key];
        layer.bindTooltip(t("map_coverage_tooltip", {
          name: feature.properties.name,
          share: share === null ? t("map_legend_nodata") : O.formatPercent(share),
          threshold: thresholdText(p.threshold),
        }), { sticky: true });
      };
      coverage.addData(geojson);
      coverage.bringToBack();
      drawLegend(p.threshold, true);
      return true;
    }).catch(function () {
      coverage.clearLayers();
      drawLegend(p.threshold, false);
      status.textContent = t("map_coverage_missing");
      return false;
    });
  }

  function loadProviders(p) {
    var url = "/api/v1/providers";
    url += p.service === "one_stop_centre" ? "?type=one_stop_centre"
      : "?service=" + encodeURIComponent(p.service);
    return O.getJSON(url).then(function (geojson) {
      providers.clearLayers();
      var count = 0;
      geojson.features.forEach(function (feature) {
        if (!feature.geometry) return; // hotlines: no place
        var c = feature.geometry.coordinates;
        providers.addLayer(O.providerMarker(feature.properties, [c[1], c[0]]));
        count += 1;
      });
      return count;
    });
  }

  function refresh() {
    var p = params();
    status.textContent = t("map_loading");
    Promise.all([loadCoverage(p), loadProviders(p)]).then(function (done) {
      var message = t("map_providers_count", { count: done[1] });
      if (!done[0]) message = t("map_coverage_missing") + " " + message;
      status.textContent = message;
    }).catch(function (error) {
      status.textContent = t("error_server", { message: error.message });
    });
  }

  form.addEventListener("change", refresh);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    refresh();
  });
  refresh();
})();
