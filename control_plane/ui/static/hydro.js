// Hydro's web UI: the one piece of hand-written script, copy buttons. A button with data-copy="ID" copies
// the text of the element with that id (a read-only textarea or input) to the clipboard and says so.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.dataset.copy);
  if (!source) return;
  var text = source.value !== undefined ? source.value : source.textContent;
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = button.dataset.label || "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});
