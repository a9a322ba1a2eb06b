// The promo code's countdown: the server rendered the remaining time; this only ticks it once a second.
(function () {
  var spans = document.querySelectorAll(".countdown[data-until]");
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var now = Date.now();
    spans.forEach(function (el) {
      var left = Math.max(0, Math.floor((Date.parse(el.getAttribute("data-until")) - now) / 1000));
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600);
      var m = Math.floor(left % 3600 / 60), s = left % 60;
      el.textContent = (d ? d + " д " : "") + pad(h) + ":" + pad(m) + ":" + pad(s);
    });
  }
  if (spans.length) { tick(); setInterval(tick, 1000); }
})();
