"""Market products and zone adapters."""
from .products import KERNELS, PRODUCTS, RESERVE_PRODUCTS, Product, get_product, parse_products
from .zones import ZONES, Zone, get_zone

__all__ = ["KERNELS", "PRODUCTS", "RESERVE_PRODUCTS", "Product", "Zone", "ZONES", "get_product",
           "get_zone", "parse_products"]
