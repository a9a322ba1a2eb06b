"""Exports to advertising platforms: offline conversions (Yandex Metrica, Google Ads, Meta) and audiences
(Yandex Audiences, VK Ads), each in the form and hashing its platform documents. Pure: rows in, file text
or request bodies out; the jobs that upload them live with the identity and tracking data they read."""
