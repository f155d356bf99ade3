// The console's small enhancements; every page works without them.
document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const text = document.getElementById(copy.dataset.copy).textContent;
    navigator.clipboard.writeText(text).then(() => {
      copy.textContent = "Copied";
      copy.dataset.copied = text;
      setTimeout(() => { copy.textContent = "Copy"; }, 2000);
    }, () => { copy.textContent = "Select and copy"; });
  }
  const confirmable = event.target.closest("[data-confirm]");
  if (confirmable && !window.confirm(confirmable.dataset.confirm)) {
    event.preventDefault();
  }
});

// A page with a job still running reloads itself to show the progress.
const refresh = document.querySelector("[data-refresh]");
if (refresh) {
  setTimeout(() => window.location.reload(), Number(refresh.dataset.refresh) * 1000);
}
