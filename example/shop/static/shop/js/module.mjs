// Formats prices for the product list; loaded with <script type="module">.
const formatter = new Intl.NumberFormat(document.documentElement.lang || "en", {
  style: "currency",
  currency: "EUR",
});

export function formatPrice(cents) {
  return formatter.format(cents / 100);
}

export function formatAllPrices(root = document) {
  for (const element of root.querySelectorAll("[data-price-cents]")) {
    element.textContent = formatPrice(Number(element.dataset.priceCents));
  }
}

formatAllPrices();
