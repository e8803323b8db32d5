// demo.js — the demo page: click the map, search /v1/search/nearby around
// that point, draw the businesses as markers and list them with distances;
// page through next_cursor. No tile server (the service runs offline): the
// base layer is a graticule drawn by Leaflet itself.
(function () {
  'use strict';

  // The category vocabulary of the API (api/openapi.yaml, Category).
  var CATEGORIES = ['restaurant', 'cafe', 'bar', 'bakery', 'fast_food', 'pizza', 'sushi',
    'grocery', 'supermarket', 'pharmacy', 'hospital', 'clinic', 'dentist', 'gym', 'spa',
    'salon', 'barber', 'hotel', 'hostel', 'bank', 'atm', 'gas_station', 'ev_charging',
    'parking', 'car_repair', 'car_wash', 'bookstore', 'clothing', 'shoes', 'electronics',
    'hardware', 'furniture', 'florist', 'pet_store', 'veterinarian', 'laundry', 'post_office',
    'library', 'museum', 'theater', 'cinema', 'park', 'nightclub', 'ice_cream', 'brewery',
    'coworking', 'school', 'lawyer'];

  var $ = function (id) { return document.getElementById(id); };
  var categorySelect = $('category');
  CATEGORIES.forEach(function (c) {
    var o = document.createElement('option');
    o.value = c;
    o.textContent = c.replace(/_/g, ' ');
    categorySelect.appendChild(o);
  });

  var map = L.map('map', { worldCopyJump: true, zoomSnap: 0.5 }).setView([20, 0], 2);
  L.control.scale({ imperial: false }).addTo(map);

  // Graticule: lines every 30°, 10°, 1° or 0.1° by zoom, with labels.
  var graticule = L.layerGroup().addTo(map);
  function drawGraticule() {
    graticule.clearLayers();
    var z = map.getZoom();
    var step = z < 3 ? 30 : z < 6 ? 10 : z < 9 ? 1 : z < 12 ? 0.1 : 0.01;
    var b = map.getBounds();
    var style = { color: '#9ab', weight: 1, opacity: 0.6, interactive: false };
    var south = Math.max(-90, Math.floor(b.getSouth() / step) * step);
    var north = Math.min(90, Math.ceil(b.getNorth() / step) * step);
    var west = Math.floor(b.getWest() / step) * step;
    var east = Math.ceil(b.getEast() / step) * step;
    if ((north - south) / step > 200 || (east - west) / step > 200) return;
    var digits = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
    for (var lat = south; lat <= north + 1e-9; lat += step) {
      L.polyline([[lat, west], [lat, east]], style).addTo(graticule);
      L.marker([lat, b.getWest()], { interactive: false, icon: L.divIcon({ className: 'graticule-label', html: lat.toFixed(digits) + '°', iconSize: null }) }).addTo(graticule);
    }
    for (var lng = west; lng <= east + 1e-9; lng += step) {
      L.polyline([[south, lng], [north, lng]], style).addTo(graticule);
      L.marker([b.getSouth(), lng], { interactive: false, icon: L.divIcon({ className: 'graticule-label', html: lng.toFixed(digits) + '°', iconSize: [40, 24], iconAnchor: [0, 20] }) }).addTo(graticule);
    }
  }
  map.on('moveend zoomend', drawGraticule);
  drawGraticule();

  var results = L.layerGroup().addTo(map);
  var state = { query: null, cursors: [], page: 0, next: null };

  function setStatus(text, isError) {
    var s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  function formatDistance(m) {
    return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(m < 10000 ? 2 : 1) + ' km';
  }

  function url(q, cursor) {
    var p = new URLSearchParams();
    p.set('latitude', q.lat.toFixed(7));
    p.set('longitude', q.lng.toFixed(7));
    p.set('radius', q.radius);
    p.set('limit', q.limit);
    if (q.category) p.set('categories', q.category);
    if (cursor) p.set('cursor', cursor);
    return '/v1/search/nearby?' + p.toString();
  }

  function render(q, data) {
    results.clearLayers();
    L.circle([q.lat, q.lng], { radius: q.radius, color: '#36c', weight: 1, fillOpacity: 0.05, interactive: false }).addTo(results);
    L.circleMarker([q.lat, q.lng], { radius: 5, color: '#36c', fillOpacity: 1, interactive: false }).addTo(results);
    var list = $('results');
    list.textContent = '';
    list.start = state.page * q.limit + 1;
    data.businesses.forEach(function (b) {
      var marker = L.circleMarker([b.latitude, b.longitude], {
        radius: 7, color: '#c60', weight: 2, fillColor: '#f90', fillOpacity: 0.8, className: 'business-marker'
      }).addTo(results);
      marker.bindPopup(function () {
        var d = document.createElement('div');
        var n = document.createElement('strong');
        n.textContent = b.name;
        d.appendChild(n);
        d.appendChild(document.createElement('br'));
        d.appendChild(document.createTextNode(formatDistance(b.distance) + ' · ' + b.categories.join(', ')));
        return d;
      });
      var li = document.createElement('li');
      li.dataset.id = String(b.id);
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = b.name;
      var dist = document.createElement('span');
      dist.className = 'distance';
      dist.dataset.metres = String(b.distance);
      dist.textContent = formatDistance(b.distance);
      var cats = document.createElement('span');
      cats.className = 'categories';
      cats.textContent = b.categories.join(', ').replace(/_/g, ' ');
      li.appendChild(name);
      li.appendChild(dist);
      li.appendChild(cats);
      li.addEventListener('click', function () { marker.openPopup(); });
      list.appendChild(li);
    });
    var shown = data.businesses.length;
    $('summary').textContent = data.total === 0 ? 'Nothing within ' + formatDistance(q.radius) + '.'
      : data.total + ' within ' + formatDistance(q.radius) + '; showing ' +
        (shown ? (state.page * q.limit + 1) + '–' + (state.page * q.limit + shown) : 'none') + '.';
    state.next = data.next_cursor;
    $('next').disabled = !state.next;
    $('first').disabled = state.page === 0;
  }

  function run(cursor) {
    var q = state.query;
    setStatus('Searching…');
    return fetch(url(q, cursor), { headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
      })
      .then(function (res) {
        if (!res.ok) {
          var e = res.body && res.body.error;
          throw new Error(res.status + ' ' + (e ? e.code + ': ' + e.description : 'error'));
        }
        render(q, res.body);
        setStatus('Around ' + q.lat.toFixed(5) + ', ' + q.lng.toFixed(5) + ' — page ' + (state.page + 1) + '.');
        document.body.dataset.searches = String(Number(document.body.dataset.searches || 0) + 1);
      })
      .catch(function (err) { setStatus('Search failed: ' + err.message, true); });
  }

  function search(lat, lng) {
    state.query = {
      lat: lat, lng: L.Util.wrapNum(lng, [-180, 180], true),
      radius: Number($('radius').value), limit: Number($('limit').value), category: categorySelect.value
    };
    state.page = 0;
    state.cursors = [null];
    return run(null);
  }

  map.on('click', function (e) { search(e.latlng.lat, e.latlng.lng); });
  $('next').addEventListener('click', function () {
    if (!state.next) return;
    state.page++;
    state.cursors[state.page] = state.next;
    run(state.next);
  });
  $('first').addEventListener('click', function () {
    state.page = 0;
    run(null);
  });
  ['radius', 'category', 'limit'].forEach(function (id) {
    $(id).addEventListener('change', function () {
      if (state.query) search(state.query.lat, state.query.lng);
    });
  });

  // For people poking around and for the browser test.
  window.proximityDemo = { map: map, search: search };
})();
