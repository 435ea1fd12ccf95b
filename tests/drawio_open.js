// Opens draw.io files with mxGraph (the library draw.io is built on, npm mxgraph), as draw.io
// does: the XML decoded by mxCodec into a graph model, the graph drawn into a page of headless
// Chromium.  Loaded after mxClient.js by the page tests/test_editable.py writes, which sets
// window.DRAWIO = {name: xml text}; writes what mxGraph made of each file as JSON into <pre id="out">.
(function () {
  var out = {};
  Object.keys(window.DRAWIO).sort().forEach(function (name) {
    var result = {cells: {}, error: null};
    try {
      var doc = mxUtils.parseXml(window.DRAWIO[name]);
      var models = doc.documentElement.getElementsByTagName("mxGraphModel");
      if (models.length !== 1) throw new Error("expected one mxGraphModel, found " + models.length);
      var div = document.createElement("div");
      div.style.width = "2000px";
      div.style.height = "2000px";
      document.body.appendChild(div);
      var graph = new mxGraph(div);
      new mxCodec(models[0].ownerDocument).decode(models[0], graph.getModel());
      graph.refresh();
      var cells = graph.getModel().cells;
      Object.keys(cells).forEach(function (id) {
        var c = cells[id];
        var st = graph.view.getState(c);
        var g = c.getGeometry();
        var pts = st && st.absolutePoints ? st.absolutePoints.filter(function (p) { return p; })
          .map(function (p) { return [p.x, p.y]; }) : [];
        result.cells[id] = {
          vertex: c.isVertex(), edge: c.isEdge(), value: c.getValue(),
          style: graph.getCellStyle(c), drawn: !!(st && st.shape && st.shape.node),
          label: st && st.text && st.text.node ? st.text.node.textContent : null,
          geometry: g ? [g.x, g.y, g.width, g.height] : null, points: pts
        };
      });
    } catch (e) {
      result.error = String(e && e.stack || e);
    }
    out[name] = result;
  });
  var pre = document.createElement("pre");
  pre.id = "out";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
