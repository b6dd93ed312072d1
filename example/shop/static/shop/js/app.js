(function () {
  "use strict";

  var STORAGE_KEY = "shop.basket";

  function readBasket() {
    try {
      return JSON.parse(window.localStorage.getItem(STORAGE_KEY)) || [];
    } catch (error) {
      return [];
    }
  }

  function writeBasket(items) {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(items));
  }

  function updateCount(items) {
    var counter = document.querySelector("[data-basket-count]");
    if (counter) {
      counter.textContent = String(items.length);
    }
  }

  function onAddClick(event) {
    var button = event.target.closest("[data-add-to-basket]");
    if (!button) {
      return;
    }
    var items = readBasket();
    items.push(button.getAttribute("data-add-to-basket"));
    writeBasket(items);
    updateCount(items);
  }

  document.addEventListener("click", onAddClick);
  document.addEventListener("DOMContentLoaded", function () {
    updateCount(readBasket());
  });
})();
//# sourceMappingURL=app.js.map
