"""README.txt of an access export, in the contact's language where a translation exists.

English, French and German; any other locale (or none) gets English. Dates are written out
("29 November 2026, 22:37 UTC", "29 novembre 2026, 22:37 UTC") with Babel's month names.
"""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime

DATE_PATTERN = "d MMMM y, HH:mm 'UTC'"

README_EN = """Omni CRM - export of your personal data
=========================================

Request: {request_id}    Created: {created}    Link expires: {expires}

Files
-----
contact.json   Your contact record: Messenger page-scoped id (PSID) or Instagram-scoped id
               (IGSID) with the channel and your Instagram @username, name, locale, profile
               picture URL, tags and notes our staff recorded, flags (marketing opt-out,
               restriction), first and last contact times.
messages.json  Every message of your conversations with our pages, oldest first: direction
               ("in" = from you, "out" = from us), text, attachments, status and times.
messages.csv   The same messages as a spreadsheet (UTF-8, comma-separated). Cells that start
               with = + - @ are prefixed with ' so spreadsheet programs do not run them.

Purposes
--------
We process this data to answer your messages on Facebook Messenger or Instagram Direct, to provide customer
support, to keep records of our conversations with you and, unless you opted out, to send
you relevant updates (see our privacy policy, sections 2 and 3).

Retention
---------
Messages are kept for the retention period set for each page ({retention}); deleted
accounts and data are permanently removed within 30 days (privacy policy, section 8).
This export file is deleted automatically 7 days after it was created.
"""

README_FR = """Omni CRM - export de vos données personnelles
==============================================

Demande : {request_id}    Créé le : {created}    Lien valable jusqu'au : {expires}

Fichiers
--------
contact.json   Votre fiche de contact : identifiant Messenger propre à la page (PSID), nom,
               langue, URL de la photo de profil, étiquettes et notes saisies par notre
               équipe, indicateurs (refus du marketing, limitation), premier et dernier contact.
messages.json  Tous les messages de vos conversations avec nos pages, du plus ancien au plus
               récent : sens (« in » = de vous, « out » = de nous), texte, pièces jointes,
               statut et horaires.
messages.csv   Les mêmes messages sous forme de tableur (UTF-8, séparé par des virgules). Les
               cellules commençant par = + - @ sont précédées de ' pour qu'un tableur ne les
               exécute pas.

Finalités
---------
Nous traitons ces données pour répondre à vos messages sur Facebook Messenger, assurer le
service client, conserver une trace de nos échanges et, sauf opposition de votre part, vous
envoyer des informations utiles (voir notre politique de confidentialité, sections 2 et 3).

Conservation
------------
Les messages sont conservés pendant la durée fixée pour chaque page ({retention}) ; les
comptes et données supprimés sont définitivement effacés sous 30 jours (politique de
confidentialité, section 8). Ce fichier d'export est supprimé automatiquement 7 jours après
sa création.
"""

README_DE = """Omni CRM - Export Ihrer personenbezogenen Daten
================================================

Anfrage: {request_id}    Erstellt: {created}    Link gültig bis: {expires}

Dateien
-------
contact.json   Ihr Kontaktdatensatz: seitenbezogene Messenger-ID (PSID), Name, Sprache,
               Profilbild-URL, von unserem Team erfasste Tags und Notizen, Kennzeichen
               (Werbewiderspruch, Einschränkung), erster und letzter Kontakt.
messages.json  Alle Nachrichten Ihrer Unterhaltungen mit unseren Seiten, die älteste zuerst:
               Richtung ("in" = von Ihnen, "out" = von uns), Text, Anhänge, Status und Zeiten.
messages.csv   Dieselben Nachrichten als Tabelle (UTF-8, kommagetrennt). Zellen, die mit
               = + - @ beginnen, erhalten ein vorangestelltes ', damit Tabellenprogramme sie
               nicht ausführen.

Zwecke
------
Wir verarbeiten diese Daten, um Ihre Nachrichten im Facebook Messenger zu beantworten, Kunden-
service zu leisten, unsere Unterhaltungen mit Ihnen zu dokumentieren und Ihnen, sofern Sie
nicht widersprochen haben, relevante Neuigkeiten zu senden (siehe Datenschutzerklärung,
Abschnitte 2 und 3).

Speicherdauer
-------------
Nachrichten werden für die je Seite festgelegte Dauer gespeichert ({retention}); gelöschte
Konten und Daten werden innerhalb von 30 Tagen endgültig entfernt (Datenschutzerklärung,
Abschnitt 8). Diese Exportdatei wird 7 Tage nach ihrer Erstellung automatisch gelöscht.
"""

TEMPLATES = {"en": README_EN, "fr": README_FR, "de": README_DE}
DAYS = {"en": "{n} days", "fr": "{n} jours", "de": "{n} Tage"}


def language(locale: str | None) -> str:
    """ "fr_FR" / "fr-CA" / "fr" -> "fr" when translated, else "en"."""
    lang = (locale or "").replace("-", "_").split("_")[0].lower()
    return lang if lang in TEMPLATES else "en"


def readable(value: datetime, lang: str) -> str:
    """ "29 November 2026, 22:37 UTC" in the language's month names (value is naive UTC)."""
    return format_datetime(value, DATE_PATTERN, locale=lang)


def render(request_id: int, created: datetime, expires: datetime, retention_days: int, locale: str | None) -> str:
    lang = language(locale)
    return TEMPLATES[lang].format(
        request_id=request_id,
        created=readable(created, lang),
        expires=readable(expires, lang),
        retention=DAYS[lang].format(n=retention_days),
    )
