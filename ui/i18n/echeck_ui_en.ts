<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="ru">
<context>
    <name></name>
    <message>
        <location filename="../popup.py" line="64"/>
        <source>Нужно 10 цифр после +7</source>
        <translation>Ten digits are needed after +7</translation>
    </message>
    <message>
        <location filename="../popup.py" line="66"/>
        <source>В номере телефона только цифры</source>
        <translation>A phone number has digits only</translation>
    </message>
    <message>
        <location filename="../popup.py" line="68"/>
        <source>Только российские номера (+7 9xx …)</source>
        <translation>Russian numbers only (+7 9xx …)</translation>
    </message>
    <message>
        <location filename="../popup.py" line="70"/>
        <source>Такого номера не бывает — проверьте цифры</source>
        <translation>No such number exists: check the digits</translation>
    </message>
    <message>
        <location filename="../popup.py" line="72"/>
        <source>Введите e-mail</source>
        <translation>Type the e-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="74"/>
        <source>E-mail написан с ошибкой</source>
        <translation>The e-mail has a mistake</translation>
    </message>
    <message>
        <location filename="../popup.py" line="309"/>
        <source>Электронный чек</source>
        <translation>E-receipt</translation>
    </message>
    <message>
        <location filename="../popup.py" line="312"/>
        <source>Назад: %1</source>
        <translation>Back: %1</translation>
    </message>
    <message>
        <location filename="../popup.py" line="314"/>
        <source>Телефон оканчивается на %1?</source>
        <translation>Does the phone end in %1?</translation>
    </message>
    <message>
        <location filename="../popup.py" line="315"/>
        <source>Да, отправить</source>
        <translation>Yes, send</translation>
    </message>
    <message>
        <location filename="../popup.py" line="315"/>
        <source>Другой номер</source>
        <translation>Other number</translation>
    </message>
    <message>
        <location filename="../popup.py" line="315"/>
        <location filename="../popup.py" line="318"/>
        <location filename="../popup.py" line="321"/>
        <source>Без чека</source>
        <translation>No receipt</translation>
    </message>
    <message>
        <location filename="../popup.py" line="317"/>
        <source>Номер телефона покупателя</source>
        <translation>Buyer&apos;s phone number</translation>
    </message>
    <message>
        <location filename="../popup.py" line="318"/>
        <location filename="../popup.py" line="321"/>
        <source>Отправить</source>
        <translation>Send</translation>
    </message>
    <message>
        <location filename="../popup.py" line="318"/>
        <source>E-mail</source>
        <translation>E-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="320"/>
        <source>E-mail покупателя</source>
        <translation>Buyer&apos;s e-mail</translation>
    </message>
    <message>
        <location filename="../popup.py" line="321"/>
        <source>Телефон</source>
        <translation>Phone</translation>
    </message>
    <message>
        <location filename="../popup.py" line="344"/>
        <source>Нажмите %1 или коснитесь окна, чтобы ответить (сканер работает в кассе)</source>
        <translation>Press %1 or touch the window to answer (the scanner keeps working in the till)</translation>
    </message>
    <message>
        <location filename="../popup.py" line="347"/>
        <source>Коснитесь окна, чтобы ответить (сканер работает в кассе)</source>
        <translation>Touch the window to answer (the scanner keeps working in the till)</translation>
    </message>
    <message>
        <location filename="../popup.py" line="360"/>
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
        <location filename="../tray.py" line="84"/>
        <location filename="../tray.py" line="136"/>
        <source>Синхронизировать сейчас</source>
        <translation>Sync now</translation>
    </message>
    <message>
        <location filename="../tray.py" line="92"/>
        <source>Закрыт</source>
        <translation>Closed</translation>
    </message>
    <message>
        <location filename="../tray.py" line="92"/>
        <source>Сумма</source>
        <translation>Total</translation>
    </message>
    <message>
        <location filename="../tray.py" line="92"/>
        <source>Контакт</source>
        <translation>Contact</translation>
    </message>
    <message>
        <location filename="../tray.py" line="92"/>
        <source>Отправлен</source>
        <translation>Synced</translation>
    </message>
    <message>
        <location filename="../tray.py" line="108"/>
        <source>в очереди</source>
        <translation>queued</translation>
    </message>
    <message>
        <location filename="../tray.py" line="108"/>
        <source>да</source>
        <translation>yes</translation>
    </message>
    <message>
        <location filename="../tray.py" line="108"/>
        <source>отклонён</source>
        <translation>rejected</translation>
    </message>
    <message>
        <location filename="../tray.py" line="114"/>
        <source>только бумажный</source>
        <translation>paper only</translation>
    </message>
    <message>
        <location filename="../tray.py" line="135"/>
        <source>Состояние кассы…</source>
        <translation>Register status…</translation>
    </message>
    <message>
        <location filename="../tray.py" line="138"/>
        <source>Выход</source>
        <translation>Quit</translation>
    </message>
</context>
</TS>
