<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="ru">
<context>
    <name></name>
    <message>
        <location filename="../popup.py" line="41"/>
        <source>Нужно 10 цифр после +7</source>
        <translation>Ten digits are needed after +7</translation>
    </message>
    <message>
        <location filename="../popup.py" line="43"/>
        <source>В номере телефона только цифры</source>
        <translation>A phone number has digits only</translation>
    </message>
    <message>
        <location filename="../popup.py" line="45"/>
        <source>Только российские номера (+7 9xx …)</source>
        <translation>Russian numbers only (+7 9xx …)</translation>
    </message>
    <message>
        <location filename="../popup.py" line="47"/>
        <source>Такого номера не бывает — проверьте цифры</source>
        <translation>No such number exists: check the digits</translation>
    </message>
    <message>
        <location filename="../popup.py" line="49"/>
        <source>Введите e-mail</source>
        <translation>Type the e-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="51"/>
        <source>E-mail написан с ошибкой</source>
        <translation>The e-mail has a mistake</translation>
    </message>
    <message>
        <location filename="../popup.py" line="211"/>
        <source>Электронный чек</source>
        <translation>E-receipt</translation>
    </message>
    <message>
        <location filename="../popup.py" line="215"/>
        <source>Телефон оканчивается на %1?</source>
        <translation>Does the phone end in %1?</translation>
    </message>
    <message>
        <location filename="../popup.py" line="216"/>
        <source>Да, отправить</source>
        <translation>Yes, send</translation>
    </message>
    <message>
        <location filename="../popup.py" line="216"/>
        <source>Другой номер</source>
        <translation>Other number</translation>
    </message>
    <message>
        <location filename="../popup.py" line="216"/>
        <location filename="../popup.py" line="219"/>
        <location filename="../popup.py" line="222"/>
        <source>Без чека</source>
        <translation>No receipt</translation>
    </message>
    <message>
        <location filename="../popup.py" line="218"/>
        <source>Номер телефона покупателя</source>
        <translation>Buyer's phone number</translation>
    </message>
    <message>
        <location filename="../popup.py" line="219"/>
        <location filename="../popup.py" line="222"/>
        <source>Отправить</source>
        <translation>Send</translation>
    </message>
    <message>
        <location filename="../popup.py" line="219"/>
        <source>E-mail</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="221"/>
        <source>E-mail покупателя</source>
        <translation>Buyer's e-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="222"/>
        <source>Телефон</source>
        <translation>Phone</translation>
    </message>
    <message>
        <location filename="../popup.py" line="246"/>
        <source>Чек в телефоне: наведите камеру</source>
        <translation>Receipt on your phone: scan with the camera</translation>
    </message>
    <message>
        <location filename="../tray.py" line="30"/>
        <source>Чеки отправлены</source>
        <translation>Receipts synced</translation>
    </message>
    <message>
        <location filename="../tray.py" line="32"/>
        <source>Очередь растёт</source>
        <translation>Queue is growing</translation>
    </message>
    <message>
        <location filename="../tray.py" line="34"/>
        <source>Регистратор не зарегистрирован</source>
        <translation>Register not enrolled</translation>
    </message>
    <message>
        <location filename="../tray.py" line="34"/>
        <source>Нет связи с облаком</source>
        <translation>Cloud unreachable</translation>
    </message>
    <message>
        <location filename="../tray.py" line="36"/>
        <source>Агент echeck не отвечает</source>
        <translation>echeck agent is not answering</translation>
    </message>
    <message>
        <location filename="../tray.py" line="42"/>
        <source>В очереди: %1</source>
        <translation>Queued: %1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="44"/>
        <source>Последняя синхронизация: %1</source>
        <translation>Last sync: %1</translation>
    </message>
    <message>
        <location filename="../tray.py" line="73"/>
        <source>echeck — состояние кассы</source>
        <translation>echeck — register status</translation>
    </message>
    <message>
        <location filename="../tray.py" line="83"/>
        <location filename="../tray.py" line="133"/>
        <source>Синхронизировать сейчас</source>
        <translation>Sync now</translation>
    </message>
    <message>
        <location filename="../tray.py" line="91"/>
        <source>Закрыт</source>
        <translation>Closed</translation>
    </message>
    <message>
        <location filename="../tray.py" line="91"/>
        <source>Сумма</source>
        <translation>Total</translation>
    </message>
    <message>
        <location filename="../tray.py" line="91"/>
        <source>Контакт</source>
        <translation>Contact</translation>
    </message>
    <message>
        <location filename="../tray.py" line="91"/>
        <source>Отправлен</source>
        <translation>Synced</translation>
    </message>
    <message>
        <location filename="../tray.py" line="105"/>
        <source>в очереди</source>
        <translation>queued</translation>
    </message>
    <message>
        <location filename="../tray.py" line="105"/>
        <source>да</source>
        <translation>yes</translation>
    </message>
    <message>
        <location filename="../tray.py" line="105"/>
        <source>отклонён</source>
        <translation>rejected</translation>
    </message>
    <message>
        <location filename="../tray.py" line="111"/>
        <source>без чека</source>
        <translation>no e-receipt</translation>
    </message>
    <message>
        <location filename="../tray.py" line="132"/>
        <source>Состояние кассы…</source>
        <translation>Register status…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="135"/>
        <source>Выход</source>
        <translation>Quit</translation>
    </message>
</context>
</TS>
